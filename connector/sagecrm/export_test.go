package sagecrm

import (
	"time"

	"github.com/syncplane/syncplane/connector"
)

// SetClock replaces the clock that dates the usage totals (tests).
func SetClock(c connector.Connector, now func() time.Time) { c.(*Connector).now = now }
