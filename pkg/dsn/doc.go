// Package dsn owns delivery status notifications: deciding whether a queued
// message needs a report (Needed) and building the RFC 3464 multipart/report
// that tells its sender what became of it (Build), from the parsed control file
// and the data file, the way Courier's dsn module does (spec
// queue-and-courierd.md §3 "Delay DSN" and §7).
//
// Callers: the scheduler asks Needed before it hands a message to the dsn
// module; cmd/courierdsn (the dsn transport module) loads the settings once
// with LoadSettings, calls Build for every delivery line and submits the
// report through pkg/submit with the envelope the Report carries.
//
// The wording of the report is not in this package: it comes from the
// administrator's files in the configuration directory (dsnheader.txt,
// dsnfooter.txt, dsndelivered.txt, dsnrelayed.txt, dsnfailed.txt,
// dsndelayed.txt, dsnsubjectnotice.txt, dsnsubjectwarn.txt, dsnfrom), read as
// the original reads them, so Debian's files work unchanged. Only dsnfrom has a
// built-in fallback, as in the original.
//
// The structure follows the original exactly (verified byte for byte against
// Debian's courierdsn run on the same control file, see the tests): header
// order, the "=_courier_<n>" boundary, the text part's sections, the field
// order of message/delivery-status with generic Status codes, which delivery
// attempt's information is shown, when the whole message is returned, and the
// 8-bit variants message/global-delivery-status, message/global and
// message/global-headers (RFC 6533).
package dsn
