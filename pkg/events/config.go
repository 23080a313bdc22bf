package events

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Config configures the consumer.
type Config struct {
	// QueueURL is the URL of the SQS queue the EventBridge rules and lifecycle hooks deliver to,
	// e.g. https://sqs.us-east-1.amazonaws.com/123456789012/ecs-drainer-events. Empty: no event
	// queue; the controller learns of everything by polling.
	QueueURL string
}

// Enabled reports whether a queue is configured.
func (c Config) Enabled() bool { return c.QueueURL != "" }

// queueName is SQS's rule for a standard queue's name: 1 to 80 letters, digits, hyphens and
// underscores.
var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// accountID is a 12-digit AWS account ID.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// Validate reports every problem with the configuration at once, in words that say what to fix.
// An empty QueueURL is valid (no queue).
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	u, err := url.Parse(c.QueueURL)
	if err != nil {
		return fmt.Errorf("--queue-url %q is not a URL: %w", c.QueueURL, err)
	}
	var errs []error
	if u.Scheme != "https" && u.Scheme != "http" {
		errs = append(errs, fmt.Errorf("--queue-url %q must start with https:// (the QueueUrl that aws sqs get-queue-url prints)", c.QueueURL))
	}
	if u.Host == "" {
		errs = append(errs, fmt.Errorf("--queue-url %q names no host", c.QueueURL))
	}
	account, name, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
	switch {
	case !ok || !accountID.MatchString(account):
		errs = append(errs, fmt.Errorf("--queue-url %q: the path must be /<12-digit account ID>/<queue name>", c.QueueURL))
	case strings.HasSuffix(name, ".fifo"):
		errs = append(errs, fmt.Errorf("--queue-url %q is a FIFO queue: lifecycle hooks cannot notify FIFO queues; use a standard queue", c.QueueURL))
	case !queueName.MatchString(name):
		errs = append(errs, fmt.Errorf("--queue-url %q: %q is not a queue name (1 to 80 letters, digits, - and _)", c.QueueURL, name))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("--queue-url %q has a query or fragment; give the bare queue URL", c.QueueURL))
	}
	return errors.Join(errs...)
}
