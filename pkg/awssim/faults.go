package awssim

import (
	"strings"
	"time"
)

// tokenBucket is one operation's request budget, refilled on the simulator's clock.
type tokenBucket struct {
	Bucket
	tokens float64
	last   time.Time
}

// defaultBucket models AWS's published request-throttling buckets. ECS documents a token bucket per
// action (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html, whose
// worked example gives cluster read actions a bucket of 50); Auto Scaling publishes no numbers, so it
// gets the same shape. Reads get a larger sustained rate than writes, as on AWS.
func defaultBucket(op string) Bucket {
	if isReadOp(op) {
		return Bucket{Rate: 20, Burst: 50}
	}
	return Bucket{Rate: 10, Burst: 20}
}

func isReadOp(op string) bool {
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List")
}

// takeToken reports whether op may run now, consuming a token if so.
func (s *Sim) takeToken(op string) bool {
	b, ok := s.buckets[op]
	now := s.now()
	if !ok {
		cfg, ok := s.opts.ThrottleRates[op]
		if !ok {
			cfg = defaultBucket(op)
		}
		b = &tokenBucket{Bucket: cfg, tokens: cfg.Burst, last: now}
		s.buckets[op] = b
	}
	b.tokens = min(b.Burst, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// hostileKind is how a response is spoiled on its way out, to prove clients survive bad responses.
type hostileKind int

const (
	hostileNone hostileKind = iota
	hostileTruncate
	hostileGarbage
	hostileUnknownError
)

// hostileLocked draws whether this response is spoiled. The request has been applied (or not)
// before this point, exactly as a response lost on the network would leave AWS.
func (s *Sim) hostileLocked() hostileKind {
	if s.opts.Hostile <= 0 || s.rng.Float64() >= s.opts.Hostile {
		return hostileNone
	}
	return hostileKind(1 + s.rng.IntN(3))
}

func (h hostileKind) apply(body []byte, status int) ([]byte, int) {
	switch h {
	case hostileTruncate:
		return body[:len(body)/2], status
	case hostileGarbage:
		return []byte("<<<{{{ not a response \x00\xff"), status
	case hostileUnknownError:
		return []byte(`{"__type":"SimulatedWeirdFault","message":"an error code no SDK models"}`), 503
	}
	return body, status
}
