package smtpd

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/emersion/go-smtp"
)

const invalidDomain = "Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>"

// checkDNS is the original's BOFHCHECKDNS test of a sender's domain
// (submit.C checkdns): the domain must have MX records, or an address
// record when it has none (RFC 5321 5.1); an MX record must name a host,
// not an IP address (RFC 1035 3.3.9); and no mail server of the domain may
// be listed in bofh badmx. A DNS failure is a temporary refusal. It returns
// the reply and the reason for the log, or nil.
func (s *session) checkDNS(ctx context.Context, domain string) (*smtp.SMTPError, string) {
	if strings.HasPrefix(domain, "[") {
		return nil, ""
	}
	r := s.d.Resolver
	mxs, err := r.LookupMX(ctx, domain)
	if err != nil {
		if !notFound(err) {
			return reply(417, "DNS lookup failure: "+domain+".  Try again later."), "BOFHCHECKDNS: " + err.Error()
		}
		if _, err := r.LookupIPAddr(ctx, domain); err != nil {
			if notFound(err) {
				return reply(517, "Domain does not exist: "+domain+".\n"+invalidDomain), "BOFHCHECKDNS: the sender's domain has neither MX nor address records"
			}
			return reply(417, "DNS lookup failure: "+domain+".  Try again later."), "BOFHCHECKDNS: " + err.Error()
		}
		return nil, ""
	}
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if ip := net.ParseIP(host); ip != nil {
			return reply(517, "MX records for "+domain+" violate section 3.3.9 of RFC 1035.\n"+invalidDomain), "BOFHCHECKDNS: the MX record names the IP address " + host
		}
		if len(s.d.Bofh.BadMX) == 0 || host == "" {
			continue
		}
		addrs, err := r.LookupIPAddr(ctx, host)
		if err != nil {
			// As the original: a mail server whose addresses cannot
			// be found hides from the badmx check.
			continue
		}
		for _, a := range addrs {
			if s.d.Bofh.IsBadMX(a.IP) {
				return reply(517, "Mail server at "+a.IP.String()+" is blocked."), "bofh badmx: " + host + " is a mail server of " + domain
			}
		}
	}
	return nil, ""
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
