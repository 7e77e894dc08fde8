#!/bin/sh
# Exit 0 when the PAM development headers (Debian: libpam0g-dev) are present.
test -f /usr/include/security/pam_appl.h
