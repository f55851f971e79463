// Command phase runs one step of a benchmark (one command, or several separated by "::", run
// one after the other, each printing JSON lines) and accounts for the machine around it: the
// CPU time used by the server's processes (all their descendants, and the children they
// reaped, from /proc/PID/stat), by the load commands, and by everything else on the machine
// (the busy time of /proc/stat minus both), and the load average before and after. It prints
// one JSON line: the step's name, those figures and the commands' JSON lines as "results". It
// stops at the first command that fails and exits with its status.
//
//	phase -name smtp -server posta -pids 123 -msgs 5000 -- smtpload -addr ... -n 5000 :: imapload -mode count ...
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ticks is the kernel's USER_HZ, the unit of /proc's CPU times: 100 on every Linux port.
const ticks = 100.0

type report struct {
	Name           string            `json:"phase"`
	Server         string            `json:"server"`
	Rep            int               `json:"rep,omitempty"`
	Msgs           int               `json:"msgs,omitempty"`
	WallS          float64           `json:"wall_s"`
	ServerCPUS     float64           `json:"server_cpu_s"`
	LoadCPUS       float64           `json:"load_cpu_s"`
	OtherCPUS      float64           `json:"other_cpu_s"`
	MachineCPUS    float64           `json:"machine_cpu_s"`
	CPUs           int               `json:"cpus"`
	ServerCPUPer1k float64           `json:"server_cpu_s_per_1000_msgs,omitempty"`
	LoadBefore     [3]float64        `json:"loadavg_before"`
	LoadAfter      [3]float64        `json:"loadavg_after"`
	Started        time.Time         `json:"started"`
	Error          string            `json:"error,omitempty"`
	Results        []json.RawMessage `json:"results"`
}

func main() {
	name := flag.String("name", "", "name of the step")
	server := flag.String("server", "", "name of the server measured")
	pidList := flag.String("pids", "", "the server's processes, comma separated (their descendants are counted too)")
	pidFiles := flag.String("pidfiles", "", "files holding the server's process ids, comma separated, read at the start")
	msgs := flag.Int("msgs", 0, "messages the step handles, for the CPU time per 1000 messages")
	rep := flag.Int("rep", 0, "repetition number, copied into the report")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "phase: no command after the flags")
		os.Exit(2)
	}
	pids, err := parsePids(*pidList, *pidFiles)
	if err != nil {
		fmt.Fprintln(os.Stderr, "phase:", err)
		os.Exit(2)
	}
	r := report{Name: *name, Server: *server, Rep: *rep, Msgs: *msgs, Started: time.Now().UTC()}
	r.LoadBefore = loadavg()
	cpu0, err := machineBusy()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phase:", err)
		os.Exit(1)
	}
	r.CPUs = cpusOf()
	srv0 := treeCPU(pids)
	t0 := time.Now()

	var cmds [][]string
	cur := []string{}
	for _, a := range flag.Args() {
		if a == "::" {
			cmds = append(cmds, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, a)
	}
	cmds = append(cmds, cur)
	var out bytes.Buffer
	var runErr error
	var failed *exec.Cmd
	for _, args := range cmds {
		if len(args) == 0 {
			runErr = errors.New("empty command next to a \"::\" separator")
			break
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr
		runErr = cmd.Run()
		if ps := cmd.ProcessState; ps != nil {
			r.LoadCPUS += (ps.UserTime() + ps.SystemTime()).Seconds()
		}
		if runErr != nil {
			failed = cmd
			break
		}
	}

	r.WallS = time.Since(t0).Seconds()
	srv1 := treeCPU(pids)
	cpu1, _ := machineBusy()
	r.LoadAfter = loadavg()
	r.ServerCPUS = (srv1 - srv0) / ticks
	r.MachineCPUS = (cpu1 - cpu0) / ticks
	r.OtherCPUS = r.MachineCPUS - r.ServerCPUS - r.LoadCPUS
	if r.Msgs > 0 {
		r.ServerCPUPer1k = r.ServerCPUS / float64(r.Msgs) * 1000
	}
	r.Results = []json.RawMessage{}
	for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 && line[0] == '{' && json.Valid(line) {
			r.Results = append(r.Results, json.RawMessage(line))
		}
	}
	if runErr != nil {
		r.Error = runErr.Error()
		if failed != nil {
			r.Error = failed.Args[0] + ": " + r.Error
		}
	}
	json.NewEncoder(os.Stdout).Encode(r)
	if runErr != nil {
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() > 0 {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
}

func parsePids(list, files string) ([]int, error) {
	var pids []int
	add := func(s, from string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 {
			return fmt.Errorf("bad process id %q%s", s, from)
		}
		pids = append(pids, p)
		return nil
	}
	for _, s := range strings.Split(list, ",") {
		if err := add(s, ""); err != nil {
			return nil, err
		}
	}
	for _, f := range strings.Split(files, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := add(string(b), " in "+f); err != nil {
			return nil, err
		}
	}
	return pids, nil
}

func loadavg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

func cpusOf() int {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			n++
		}
	}
	return n
}

// machineBusy returns the ticks all CPUs spent busy: user, nice, system, irq, softirq and
// steal (guest time is already inside user).
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q", line)
		}
		busy += v
	}
	return busy, nil
}

// treeCPU returns the CPU ticks of roots and of all their descendants: user and system time
// of each, plus the time of the children each has reaped (so that processes that ended
// during the step, such as Dovecot's or Postfix's per-connection processes, still count).
func treeCPU(roots []int) float64 {
	if len(roots) == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	type proc struct {
		ppid int
		cpu  float64
	}
	procs := map[int]proc{}
	kids := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17); comm may hold
		// spaces and parentheses, so fields are counted after its closing one.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		var cpu float64
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseFloat(f[i], 64)
			cpu += v
		}
		procs[pid] = proc{ppid, cpu}
		kids[ppid] = append(kids[ppid], pid)
	}
	var total float64
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for i := 0; i < len(queue) && i <= len(procs)+len(roots); i++ {
		p := queue[i]
		if seen[p] {
			continue
		}
		seen[p] = true
		total += procs[p].cpu
		queue = append(queue, kids[p]...)
	}
	return total
}
