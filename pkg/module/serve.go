package module

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// Handler performs one delivery. It must have recorded every recipient's
// result in the control file before it returns; what it returns is sent
// after the delivery id and a tab ("" sends the id alone). When ctx is
// cancelled (the delivery's time limit) it must stop what it runs and
// record a deferral.
type Handler func(ctx context.Context, d Delivery) (reply string)

// ServeOptions tune Serve.
type ServeOptions struct {
	MaxDels int           // deliveries run at once; default DefaultMaxDels
	Timeout time.Duration // time limit of one delivery; 0 is none
	Logger  *slog.Logger  // default slog.Default()
}

// MaxLine bounds a delivery line: MAXRCPT recipients of up to a few hundred
// bytes each fit many times over.
const MaxLine = 1 << 20

// OptionsFromEnv returns the options the scheduler passes in the
// environment (MAXDELS).
func OptionsFromEnv() ServeOptions {
	o := ServeOptions{MaxDels: DefaultMaxDels}
	if n, err := strconv.Atoi(os.Getenv("MAXDELS")); err == nil && n > 0 {
		o.MaxDels = n
	}
	return o
}

// Serve reads delivery lines from in and runs h for each, at most
// o.MaxDels at a time, writing the reply line to out after each returns. At
// end of input (the scheduler has gone) it waits for the deliveries that
// run and returns nil; a read error is returned after the same wait.
// Malformed lines are logged and skipped, as the original does. When ctx is
// cancelled no new delivery starts and the running ones see it.
func Serve(ctx context.Context, in io.Reader, out io.Writer, o ServeOptions, h Handler) error {
	if o.MaxDels <= 0 {
		o.MaxDels = DefaultMaxDels
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	var (
		wg     sync.WaitGroup
		outMu  sync.Mutex
		outErr error
		slots  = make(chan struct{}, o.MaxDels)
	)
	reply := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		if outErr != nil {
			return
		}
		if _, err := io.WriteString(out, line); err != nil {
			outErr = err
			log.Error("cannot answer the scheduler; it will retry the delivery after a restart", "err", err)
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), MaxLine)
	var err error
	for sc.Scan() {
		if ctx.Err() != nil {
			break
		}
		d, perr := ParseDelivery(sc.Text())
		if perr != nil {
			log.Error("ignoring a malformed line from the scheduler", "err", perr)
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			dctx, cancel := ctx, context.CancelFunc(func() {})
			if o.Timeout > 0 {
				dctx, cancel = context.WithTimeout(ctx, o.Timeout)
			}
			text := h(dctx, d)
			cancel()
			line := d.ID + "\n"
			if text != "" {
				line = d.ID + "\t" + text + "\n"
			}
			reply(line)
		}()
	}
	if e := sc.Err(); e != nil {
		if errors.Is(e, bufio.ErrTooLong) {
			e = fmt.Errorf("a delivery line is longer than %d bytes", MaxLine)
		}
		err = e
	}
	wg.Wait()
	return err
}
