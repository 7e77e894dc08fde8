# The suite's build, test, install and quick start. See README.md.
#
#   make build                 every cmd/ program into build/bin/ (LAYOUT preset, default debian)
#   make test                  go vet, staticcheck, go test -race ./... (unit, fuzz seeds, end-to-end)
#   make run                   install a sandbox into ./run and start the suite in the foreground
#   make install               install into the LAYOUT's directories under DESTDIR, with the
#                              manual pages, the init script and the systemd units; writes the
#                              permissions list build/permissions.dat (path mode owner group);
#                              as a normal user (DESTDIR=...) the owners are only listed
#   make install-configure     create or upgrade the configuration files from their .dist files
#
# LAYOUT=debian (default): Debian's courier packages' paths (/etc/courier, /usr/sbin, ...).
# LAYOUT=courier: everything under /usr/lib/courier, like a source-built Courier.

GO          ?= go
LAYOUT      ?= debian
DESTDIR     ?=
BUILDDIR    ?= build
BIN         := $(BUILDDIR)/bin
STATICCHECK_VERSION := v0.8.2
TOOLS       := $(CURDIR)/build/tools
PKG         := github.com/gocourier/courier
LDFLAGS     := -X $(PKG)/pkg/layout.preset=$(LAYOUT)
# Programs that link C libraries (PAM); everything else is built without cgo.
CGO_PROGRAMS := authpam
PROGRAMS    := $(notdir $(wildcard cmd/*))
PURE        := $(filter-out $(CGO_PROGRAMS),$(PROGRAMS))
CGO_BUILD   := $(filter $(CGO_PROGRAMS),$(PROGRAMS))

.PHONY: all build man deps test vet lint gotest run install install-configure clean

all: build

build: deps
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(PURE))
	@for p in $(CGO_BUILD); do \
	  if scripts/have-pam.sh; then \
	    echo "CGO_ENABLED=1 $(GO) build -o $(BIN)/$$p ./cmd/$$p"; \
	    CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$p ./cmd/$$p || exit 1; \
	  else \
	    echo "NOTE: $$p not built: the PAM headers are missing (install the Debian package libpam0g-dev, or run make as root)"; \
	  fi; \
	done

# The manual pages, from docs/man with go-md2man (a tool of go.mod).
man:
	scripts/man.sh $(BUILDDIR)/man

# Build dependencies that come from Debian: the PAM headers for the authpam
# helper. Installed when running as root (CI does); otherwise reported.
deps:
	@scripts/have-pam.sh || scripts/install-deps.sh

test: deps vet lint gotest

vet:
	$(GO) vet ./...

lint: $(TOOLS)/staticcheck
	$(TOOLS)/staticcheck ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The whole suite, with the race detector. Tests that need a Debian package
# that is missing, or root, are skipped and listed at the end (one SKIP line
# each, naming what to install).
gotest:
	@rm -f $(CURDIR)/build/skips.log; mkdir -p $(CURDIR)/build
	COURIER_SKIPLOG=$(CURDIR)/build/skips.log $(GO) test -race -timeout 20m ./...
	@if [ -s build/skips.log ]; then sort -u build/skips.log; fi

run:
	@scripts/sandbox.sh $(CURDIR)/run

install: build man
	scripts/install.sh $(BIN) $(LAYOUT) "$(DESTDIR)" $(abspath $(BUILDDIR))/permissions.dat

install-configure:
	scripts/install-configure.sh $(BIN) $(LAYOUT) "$(DESTDIR)"

clean:
	rm -rf build
