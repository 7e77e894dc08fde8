// Package pamhelper is the PAM side of the authpam helper program
// (cmd/authpam): it reads pamwire requests on one stream, runs each through
// libpam (pam_authenticate and pam_acct_mgmt, then pam_chauthtok for a
// password change) and writes one reply per request. It is the only cgo
// package of the authentication path; authdaemond starts the helper and
// speaks pamwire to it, so the daemon itself stays pure Go.
package pamhelper

/*
#cgo LDFLAGS: -lpam
#define _GNU_SOURCE
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

struct gc_creds {
	char *user;
	char *pw;     // the password (AUTH) or the old password (PASSWD)
	char *newpw;  // PASSWD only
	int changing; // set once pam_chauthtok runs
};

// gc_conv answers PAM's prompts: hidden prompts get the password, or, while
// changing it, the new password for prompts that mention "new" (pam_unix:
// "New password:", "Retype new password:"); visible prompts get the user.
static int gc_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
	struct gc_creds *c = data;
	struct pam_response *r;
	int i;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc(n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		const char *ans = NULL;
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			ans = c->pw;
			if (c->changing && c->newpw && msg[i]->msg && strcasestr(msg[i]->msg, "new"))
				ans = c->newpw;
			break;
		case PAM_PROMPT_ECHO_ON:
			ans = c->user;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
		if (ans && !(r[i].resp = strdup(ans)))
			goto fail;
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

// gc_run authenticates (and for change != 0 changes the password) and
// copies PAM's error text into msg.
static int gc_run(const char *service, struct gc_creds *c, const char *rhost, int change, char *msg, size_t msglen) {
	pam_handle_t *h = NULL;
	struct pam_conv conv = { gc_conv, c };
	int rc = pam_start(service, c->user, &conv, &h);
	if (rc != PAM_SUCCESS) {
		strncpy(msg, "pam_start failed", msglen - 1);
		return rc;
	}
	if (rhost && *rhost)
		pam_set_item(h, PAM_RHOST, rhost);
	rc = pam_authenticate(h, 0);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(h, 0);
	if (change && (rc == PAM_SUCCESS || rc == PAM_NEW_AUTHTOK_REQD)) {
		c->changing = 1;
		rc = pam_chauthtok(h, rc == PAM_NEW_AUTHTOK_REQD ? PAM_CHANGE_EXPIRED_AUTHTOK : 0);
	}
	strncpy(msg, pam_strerror(h, rc), msglen - 1);
	pam_end(h, rc);
	return rc;
}

static void gc_free(char *s) {
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int gc_temporary(int rc) {
	return rc == PAM_AUTHINFO_UNAVAIL || rc == PAM_SYSTEM_ERR || rc == PAM_BUF_ERR ||
		rc == PAM_ABORT || rc == PAM_TRY_AGAIN || rc == PAM_CONV_ERR || rc == PAM_AUTHTOK_LOCK_BUSY;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"io"
	"unsafe"

	"github.com/gocourier/courier/pkg/auth/pamwire"
)

// Run performs one request through libpam.
func Run(r pamwire.Request) pamwire.Reply {
	service := C.CString(r.Service)
	defer C.free(unsafe.Pointer(service))
	rhost := C.CString(r.RemoteIP)
	defer C.free(unsafe.Pointer(rhost))
	creds := (*C.struct_gc_creds)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_gc_creds{}))))
	defer C.free(unsafe.Pointer(creds))
	creds.user = C.CString(r.User)
	creds.pw = C.CString(r.Password)
	change := C.int(0)
	if r.Op == pamwire.OpPasswd {
		creds.newpw = C.CString(r.NewPassword)
		change = 1
	}
	defer func() {
		C.gc_free(creds.user)
		C.gc_free(creds.pw)
		C.gc_free(creds.newpw)
	}()
	var msg [256]C.char
	rc := C.gc_run(service, creds, rhost, change, &msg[0], C.size_t(len(msg)))
	text := C.GoString(&msg[0])
	switch {
	case rc == C.PAM_SUCCESS:
		return pamwire.Reply{Status: pamwire.StatusOK}
	case C.gc_temporary(rc) != 0:
		return pamwire.Reply{Status: pamwire.StatusTemp, Message: text}
	}
	return pamwire.Reply{Status: pamwire.StatusFail, Message: text}
}

// Serve answers requests from in on out until in ends. A malformed request
// ends the helper: its parent wrote something it cannot have meant.
func Serve(in io.Reader, out io.Writer) error {
	br := bufio.NewReaderSize(in, 4096)
	bw := bufio.NewWriter(out)
	for {
		req, err := pamwire.ReadRequest(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("authpam: reading a request from authdaemond: %w", err)
		}
		if _, err := bw.Write(Run(req).Encode()); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}
