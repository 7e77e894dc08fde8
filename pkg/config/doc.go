// Package config owns the readers for every configuration format of the
// Courier suite, as the original programs and start scripts read them:
//
//   - shell-sourcable VAR=value files (esmtpd, imapd, courierd, authdaemonrc,
//     module.*), evaluated the way the start scripts evaluate them with
//     `set -a; . file`, and their "##NAME: VAR:REVISION" sections that
//     sysconftool merges on upgrade (see upgrade.go);
//   - one-value control files (me, defaultdomain, dsnfrom, ...);
//   - list files and their directory variants (locals, hosteddomains/,
//     esmtpacceptmailfor.dir/, aliases/, smtpaccess/, userdb/);
//   - Courier time intervals (queuetime, warntime, retryalpha, ...).
//
// Formats are described in the spec, aliases-and-control-files.md (§2 control
// files, §7 module files, §8 daemon configuration files).
//
// Every daemon and admin tool calls this package to read its configuration;
// the sysconftool program (Courier's install-configure step) calls Upgrade.
// Errors name the file and line (*Error) so an admin can find the mistake.
package config
