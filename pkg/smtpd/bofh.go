package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// readBofh reads the maxrcpts rule of the bofh control file ("maxrcpts N
// [hard]"; spec aliases-and-control-files.md). The file's other rules are
// read by other parts of the original and are checked here only for
// their syntax: a line this server does not know is an error naming the
// file and line, so that a typing mistake is never silently ignored.
func readBofh(path string) (maxRcpts int, hard bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return parseBofh(path, data)
}

// bofhKeywords are the rules of the original's bofh file.
var bofhKeywords = map[string]bool{"badfrom": true, "badmx": true, "freemail": true, "spamtrap": true, "maxrcpts": true, "opt": true}

func parseBofh(path string, data []byte) (maxRcpts int, hard bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		kw := strings.ToLower(f[0])
		if !bofhKeywords[kw] {
			return 0, false, fmt.Errorf("%s:%d: unknown rule %q (badfrom, badmx, freemail, spamtrap, maxrcpts, opt)", path, n, f[0])
		}
		if kw != "maxrcpts" {
			continue
		}
		if len(f) < 2 || len(f) > 3 || (len(f) == 3 && strings.ToLower(f[2]) != "hard") {
			return 0, false, fmt.Errorf("%s:%d: maxrcpts takes a number and optionally \"hard\"", path, n)
		}
		v, err := strconv.Atoi(f[1])
		if err != nil || v <= 0 {
			return 0, false, fmt.Errorf("%s:%d: maxrcpts %q is not a positive number", path, n, f[1])
		}
		maxRcpts, hard = v, len(f) == 3
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("%s:%d: %v", path, n+1, err)
	}
	return maxRcpts, hard, nil
}
