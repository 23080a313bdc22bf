package reconciler

import (
	"testing"
	"time"
)

func TestGlobalTimeout(t *testing.T) {
	for _, tc := range []struct {
		heartbeat, reported, want time.Duration
	}{
		{30 * time.Second, 0, 3000 * time.Second},
		{3600 * time.Second, 0, 48 * time.Hour},
		{7200 * time.Second, 0, 48 * time.Hour},
		{300 * time.Second, 600 * time.Second, 600 * time.Second},
	} {
		if got := globalTimeout(tc.heartbeat, tc.reported); got != tc.want {
			t.Errorf("globalTimeout(%v, %v) = %v, want %v", tc.heartbeat, tc.reported, got, tc.want)
		}
	}
}

func TestEffectiveDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		configured, global, margin time.Duration
		want                       time.Duration
		reduced                    bool
	}{
		{"fits", time.Hour, 48 * time.Hour, 5 * time.Minute, time.Hour, false},
		{"cut to global less margin", time.Hour, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, true},
		{"exactly the limit", 2800 * time.Second, 3000 * time.Second, 200 * time.Second, 2800 * time.Second, false},
		{"margin swallows the global timeout", time.Hour, 100 * time.Second, 200 * time.Second, 50 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reduced := effectiveDrainTimeout(tc.configured, tc.global, tc.margin)
			if got != tc.want || reduced != tc.reduced {
				t.Errorf("effectiveDrainTimeout = %v, %v; want %v, %v", got, reduced, tc.want, tc.reduced)
			}
		})
	}
}

func TestHeartbeatDue(t *testing.T) {
	now := epoch.Add(time.Hour)
	far := now.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		last, end time.Time
		heartbeat time.Duration
		want      bool
	}{
		{"unknown last heartbeat: at once", time.Time{}, far, 300 * time.Second, true},
		{"recent", now.Add(-100 * time.Second), far, 300 * time.Second, false},
		{"half the timeout passed", now.Add(-150 * time.Second), far, 300 * time.Second, true},
		{"past the global timeout", now.Add(-200 * time.Second), now, 300 * time.Second, false},
		{"no timeout known", time.Time{}, far, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heartbeatDue(now, tc.last, tc.end, tc.heartbeat); got != tc.want {
				t.Errorf("heartbeatDue = %v, want %v", got, tc.want)
			}
		})
	}
}
