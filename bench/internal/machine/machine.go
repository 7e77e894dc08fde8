// Package machine readies this machine for the next measurement of the
// load tools in bench/, so that no target pays for the files of the one
// measured before it.
package machine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Settle waits until the disk is done with the last test's writes (the
// maildirs and queue files of an SMTP load are hundreds of megabytes the
// kernel writes back for a while): it syncs, then waits, at most a
// minute, until the kernel holds less than 8 MB of dirty or in-flight
// pages. Then it empties the kernel's cache of file names and inodes
// (drop_caches 2). Every file a load creates and removes leaves a
// negative entry there; after a few runs the cache holds millions, its
// hash chains grow long, and every lookup of a name, so every open,
// rename and link of every server, slows down (1,000 renames in one
// directory took 18 ms with 9 million entries, 6 ms with them dropped).
// The files the next target reads are those it is given after this.
//
// What Settle cannot undo: on ext4 without a journal (this machine's),
// allocating an inode passes over the free inodes of its block group that
// were freed in the last 60 to 300 seconds (recently_deleted() in ext4's
// ialloc.c), so a target measured within minutes of another that deleted
// tens of thousands of files runs slower; queuebench's -cooldown waits.
func Settle() {
	syscall.Sync()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		data, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			break
		}
		kb := 0
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
				n, _ := strconv.Atoi(f[1])
				kb += n
			}
		}
		if kb < 8<<10 {
			break
		}
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2\n"), 0); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cannot empty the kernel's name cache (the figures may suffer from earlier runs' files): %v\n", err)
	}
}
