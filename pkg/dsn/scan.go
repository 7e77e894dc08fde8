package dsn

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// boundaryPrefix is the fixed part of the report's MIME boundary.
const boundaryPrefix = "=_courier_"

// scanResult is what one pass over the message data finds.
type scanResult struct {
	boundary uint64 // smallest n such that no line starts with "--=_courier_<n>"
	eightBit bool   // a byte >= 127, which the original counts as 8-bit data
}

// scanMessage finds the report's boundary and whether the message is 8-bit,
// as the original does (spec §7): "=_courier_<n>" for the first n = 0, 1, ...
// such that no line of the message starts with "--" followed by it,
// compared without regard to case and as a prefix (so "--=_courier_12" rules
// out 1 and 12).
func scanMessage(r io.Reader, size int64) (scanResult, error) {
	var res scanResult
	used := map[uint64]bool{}
	br := bufio.NewReaderSize(r, readBuffer(size))
	atStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if atStart {
			markUsed(chunk, used)
		}
		if !res.eightBit {
			for _, c := range chunk {
				if c >= 127 {
					res.eightBit = true
					break
				}
			}
		}
		atStart = len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, fmt.Errorf("reading the message data: %w", err)
		}
	}
	for used[res.boundary] {
		res.boundary++
	}
	return res, nil
}

// markUsed records the boundary numbers a line starting with
// "--=_courier_<digits>" rules out: every number whose decimal form is a
// prefix of the digits.
func markUsed(line []byte, used map[uint64]bool) {
	const lead = 2 + len(boundaryPrefix)
	if len(line) < lead+1 || line[0] != '-' || line[1] != '-' {
		return
	}
	for i := 0; i < len(boundaryPrefix); i++ {
		if lower(line[2+i]) != boundaryPrefix[i] {
			return
		}
	}
	digits := line[lead:]
	n := 0
	for n < len(digits) && n < 19 && digits[n] >= '0' && digits[n] <= '9' {
		n++
	}
	if n == 0 {
		return
	}
	if digits[0] == '0' {
		used[0] = true // "0" is the only decimal form with a leading zero
		return
	}
	for k := 1; k <= n; k++ {
		v, _ := strconv.ParseUint(string(digits[:k]), 10, 64)
		used[v] = true
	}
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// readBuffer sizes a reader's buffer for a file of size bytes: no more than the
// file needs, at most 32 KiB. Lines longer than the buffer are read in pieces.
func readBuffer(size int64) int {
	return int(min(max(size, 16), 32*1024))
}
