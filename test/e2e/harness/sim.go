package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecs-drainer/ecs-drainer/pkg/awssim"
)

// SQSClient returns an SQS client for the simulator, with the SDK's default retryer: a test that
// deletes or denies a queue on purpose wants its calls to fail as a consumer's would.
func SQSClient(simURL string) *sqs.Client {
	return sqs.NewFromConfig(aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(FakeAccessKey, FakeSecretKey, ""),
		BaseEndpoint: aws.String(simURL),
	})
}

// PatchFaults changes some of awssim's faults while it runs: PUT /debug/faults with only the
// fields in patch (by their JSON names, e.g. "deny", "eventLoss"); the others keep their values,
// and a null clears a list.
func PatchFaults(simURL string, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encoding the faults patch: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, simURL+"/debug/faults", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the faults request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("patching faults with %s: %w", body, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("patching faults with %s: %s: %s", body, resp.Status, msg)
	}
	return nil
}

// SQSQueues reads awssim's ground truth of every queue and its messages (GET /debug/sqs).
func SQSQueues(simURL string) ([]awssim.SQSQueue, error) {
	resp, err := get(simURL + "/debug/sqs")
	if err != nil {
		return nil, fmt.Errorf("reading /debug/sqs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading /debug/sqs: %s", resp.Status)
	}
	var qs []awssim.SQSQueue
	if err := json.NewDecoder(resp.Body).Decode(&qs); err != nil {
		return nil, fmt.Errorf("decoding /debug/sqs: %w", err)
	}
	return qs, nil
}
