// Package testenv starts real servers for tests. Stdlib only.
package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago. It never
// returns 6379. Another process can grab it before the caller binds it, so
// callers that start servers should retry on a bind failure (StartRedis does).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: listen on 127.0.0.1:0: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port
		}
	}
	t.Fatal("testenv: no free loopback port")
	return 0
}

// Redis is a running redis-server started by StartRedisServer.
type Redis struct {
	t     testing.TB
	Port  int
	dir   string
	extra []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	waitCh chan error
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Addr is host:port of the server.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// StartRedis starts a throwaway redis-server on a free loopback port, waits
// until it answers PING and stops it when the test ends. It fails the test
// (never skips) when redis-server is not installed.
func StartRedis(t testing.TB) (url string) {
	t.Helper()
	return StartRedisServer(t).URL()
}

// StartRedisServer is StartRedis returning a handle that can Stop and
// Restart the server on the same port.
func StartRedisServer(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t)
}

func startRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("testenv: redis-server not found on PATH; install it (e.g. apt-get install redis-server) to run these tests")
	}
	r := &Redis{t: t, dir: t.TempDir(), extra: extra}
	t.Cleanup(r.Stop)
	var lastErr error
	for range 10 {
		r.Port = FreePort(t)
		if lastErr = r.start(); lastErr == nil {
			return r
		}
	}
	t.Fatalf("testenv: start redis-server: %v", lastErr)
	return nil
}

func (r *Redis) start() error {
	logPath := filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.Port))
	cmd := exec.Command("redis-server",
		"--save", "",
		"--appendonly", "no",
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(r.Port),
		"--dir", r.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	)
	cmd.Args = append(cmd.Args, r.extra...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server exited early (%v): %s", err, lastLines(string(b), 5))
		default:
		}
		if ping(r.Addr()) == nil {
			r.mu.Lock()
			r.cmd, r.waitCh = cmd, exited
			r.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on port %d did not answer PING within 10s", r.Port)
}

// Stop kills the server and waits for it to exit. Safe to call twice.
func (r *Redis) Stop() {
	r.mu.Lock()
	cmd, ch := r.cmd, r.waitCh
	r.cmd, r.waitCh = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-ch
	// Wait until the port no longer answers.
	for range 100 {
		c, err := net.DialTimeout("tcp", r.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port (after Stop). The data
// is gone: the server keeps nothing on disk.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	var err error
	for range 50 {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("testenv: restart redis-server on port %d: %v", r.Port, err)
}

// StartRedisCluster starts a one-node Redis Cluster (the node owns all
// 16384 slots) and returns its redis+cluster:// URL. A single node still
// rejects multi-key commands and scripts whose keys span hash slots
// (CROSSSLOT), so it checks a store's key layout.
func StartRedisCluster(t testing.TB) (url string) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("testenv: redis-server not found on PATH; install it (e.g. apt-get install redis-server) to run these tests")
	}
	r := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if _, err := command(r.Addr(), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("testenv: CLUSTER ADDSLOTSRANGE: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := command(r.Addr(), "CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return fmt.Sprintf("redis+cluster://127.0.0.1:%d", r.Port)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: cluster not ok: %v %q", err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command sends one command and returns a simple, error or bulk reply.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return strings.TrimPrefix(line, "+"), nil
}

// ping speaks RESP: sends PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
