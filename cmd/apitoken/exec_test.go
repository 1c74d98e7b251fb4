package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// child is the command running in a child process: this test binary,
// which TestMain turns into the command.
type child struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan struct{} // closed when it has exited
}

// startChild starts the command with args in a child process.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "APITOKEN_CMD_CHILD=1")
	c.cmd.Stderr = os.Stderr
	c.cmd.Stdout = &c.stdout
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.cmd.Process.Kill(); <-c.done })
	return c
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
