package zoho

import (
	"context"
	"time"

	"github.com/syncplane/syncplane/connector"
)

// SetSleep replaces the back-off sleep of a configured connector (tests).
func SetSleep(c connector.Connector, f func(ctx context.Context, d time.Duration) error) {
	c.(*Connector).api.sleep = f
}

// SetClock replaces the clock of a connector (tests).
func SetClock(c connector.Connector, now func() time.Time) { c.(*Connector).now = now }
