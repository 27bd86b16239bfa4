package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpClient is a minimal client of QEMU's machine protocol (QMP): JSON
// objects over a unix socket; a greeting, then capabilities negotiation,
// then commands, each answered by "return" or "error" (events interleave).
type qmpClient struct {
	conn net.Conn
	r    *bufio.Reader
}

type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP,omitempty"`
	Return json.RawMessage `json:"return,omitempty"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error,omitempty"`
	Event string `json:"event,omitempty"`
}

// dialQMP connects, reads the greeting and leaves negotiation mode.
func dialQMP(ctx context.Context, path string) (*qmpClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: connect %s: %w", path, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	c := &qmpClient{conn: conn, r: bufio.NewReader(conn)}
	greeting, err := c.read()
	if err != nil || greeting.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("qmp: no greeting on %s: %v", path, err)
	}
	if err := c.execute("qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *qmpClient) read() (qmpMessage, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return qmpMessage{}, fmt.Errorf("qmp: read: %w", err)
	}
	var m qmpMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return qmpMessage{}, fmt.Errorf("qmp: bad message %q: %w", line, err)
	}
	return m, nil
}

// execute sends one command without arguments and waits for its answer.
func (c *qmpClient) execute(command string) error { return c.call(command, nil, nil) }

// call sends one command with arguments (nil for none) and decodes its
// return value into out (nil to ignore it); events are skipped.
func (c *qmpClient) call(command string, args, out any) error {
	msg := map[string]any{"execute": command}
	if args != nil {
		msg["arguments"] = args
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("qmp: %s: %w", command, err)
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("qmp: %s: %w", command, err)
	}
	for {
		m, err := c.read()
		if err != nil {
			return fmt.Errorf("qmp: %s: %w", command, err)
		}
		switch {
		case m.Error != nil:
			return fmt.Errorf("qmp: %s: %s: %s", command, m.Error.Class, m.Error.Desc)
		case m.Return != nil:
			if out != nil {
				if err := json.Unmarshal(m.Return, out); err != nil {
					return fmt.Errorf("qmp: %s: decode %s: %w", command, m.Return, err)
				}
			}
			return nil
		}
	}
}

func (c *qmpClient) Close() error { return c.conn.Close() }
