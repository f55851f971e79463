package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// usage is the memory of a set of processes.
type usage struct {
	RSS   int64 // sum of VmRSS, bytes: counts shared pages once per process
	PSS   int64 // sum of Pss, bytes: shared pages divided among their users; -1 if unreadable
	Procs int
}

// memory sums the memory of the processes roots and, with children, of all their
// descendants: a server that forks a process per connection is measured whole.
func memory(roots []int, children bool) (usage, error) {
	pids := roots
	if children {
		var err error
		if pids, err = descendants(roots); err != nil {
			return usage{}, err
		}
	}
	u := usage{}
	for _, pid := range pids {
		rss, err := statusField(pid, "VmRSS:")
		if err != nil {
			if !isRoot(pid, roots) {
				continue // a child that has just exited, or a zombie
			}
			return usage{}, fmt.Errorf("process %d: %w", pid, err)
		}
		u.RSS += rss
		u.Procs++
		if u.PSS >= 0 {
			pss, err := rollupField(pid, "Pss:")
			if err != nil {
				u.PSS = -1
			} else {
				u.PSS += pss
			}
		}
	}
	return u, nil
}

func isRoot(pid int, roots []int) bool {
	for _, r := range roots {
		if r == pid {
			return true
		}
	}
	return false
}

// descendants returns roots and every process below them, read from /proc/*/stat.
func descendants(roots []int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	kids := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	queue := append([]int(nil), roots...)
	for i := 0; i < len(queue) && i < len(entries)+len(roots); i++ {
		p := queue[i]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		queue = append(queue, kids[p]...)
	}
	return out, nil
}

// statusField returns a "kB" field of /proc/PID/status in bytes.
func statusField(pid int, name string) (int64, error) {
	return kbField("/proc/"+strconv.Itoa(pid)+"/status", name)
}

// rollupField returns a "kB" field of /proc/PID/smaps_rollup in bytes.
func rollupField(pid int, name string) (int64, error) {
	return kbField("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", name)
}

func kbField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q", path, line)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s", path, name)
}
