package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecs-drainer/ecs-drainer/pkg/awsapi"
	"github.com/ecs-drainer/ecs-drainer/pkg/metrics"
	"github.com/ecs-drainer/ecs-drainer/pkg/reconciler"
	"github.com/ecs-drainer/ecs-drainer/test/e2e/harness"
)

// drainsPageScreenshotEnv names a file to save the drains page's screenshot to (docs/drains-page.png
// is made this way); without it the screenshot goes to a temporary folder and is only checked.
const drainsPageScreenshotEnv = "DRAINS_PAGE_SCREENSHOT"

// simEndpointRE finds the simulator's endpoint in the --simulate banner, and httpAddrRE the
// controller's HTTP address in its "Starting ecs-drainer" log line.
var (
	simEndpointRE = regexp.MustCompile(`simulator endpoint\s+(http://\S+)`)
	httpAddrRE    = regexp.MustCompile(`"httpAddr":\s*"([^"]+)"`)
)

// TestDrainsPageInBrowser runs `ecs-drainer --simulate` (what `make run` runs) and reads the drains
// page in headless Chromium, as a person would: a drain shows in progress, then among the drains
// that ended, drained and completed CONTINUE, and /drains, the page's JSON twin, says the same.
//
// The drain is held in progress for as long as the test needs, without any timing: the demo's
// standalone task sits on the instance the test terminates, and with --standalone-task-policy wait
// the drain cannot end until the test stops that task.
func TestDrainsPageInBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireTool(t, "chromium", "chromium")
	_, ctrlBin, err := harness.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	p, err := harness.Start("ecs-drainer", ctrlBin,
		[]string{"--simulate", "--http-addr", "127.0.0.1:0", "--standalone-task-policy", "wait"}, nil, httpAddrRE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(30 * time.Second); err != nil {
			t.Errorf("stopping ecs-drainer: %v\n%s", err, p.Output())
		}
		if t.Failed() {
			t.Logf("ecs-drainer output:\n%s", p.Output())
		}
	})
	m := simEndpointRE.FindStringSubmatch(p.Output())
	if m == nil {
		t.Fatalf("no simulator endpoint in the banner:\n%s", p.Output())
	}
	as, ec := harness.Clients(m[1])
	base := "http://" + p.Addr

	// Terminate the instances that run a standalone task of the demo in clusters web and batch.
	// The web one is the drain the test follows; the batch one stays in progress to the end.
	task, id := holdDrain(t, as, ec, "web")
	_, held := holdDrain(t, as, ec, "batch")

	checkPageDraining(t, chromium, base, id)

	// Let the drain end: stop the standalone task.
	if _, err := ec.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("web"), Task: aws.String(task), Reason: aws.String("drains page test")}); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	var e reconciler.EndedDrain
	waitDrains(t, base, "drain of "+id+" ended", func(v reconciler.DrainsView) bool {
		i := slices.IndexFunc(v.Ended, func(e reconciler.EndedDrain) bool { return e.InstanceID == id })
		if i >= 0 {
			e = v.Ended[i]
		}
		return i >= 0
	})
	if e.ASG != "web-asg" || e.Outcome != metrics.OutcomeDrained || e.Result != awsapi.LifecycleActionContinue || e.DryRun {
		t.Errorf("/drains: %s ended %+v, want drained in web-asg, completed CONTINUE", id, e)
	}

	checkPageEnded(t, chromium, base, id, held, e)
}

// checkPageDraining checks the page shows the drain of id in the in-progress table, and the JSON
// agrees.
func checkPageDraining(t *testing.T, chromium, base, id string) {
	t.Helper()
	d := waitDraining(t, base, id)
	dom := chromiumDOM(t, chromium, base+"/")
	inProgress, ended := domSection(t, dom, "in-progress"), domSection(t, dom, "ended")
	for _, want := range []string{id, "web-asg", ">web<", d.PhaseText} {
		if !strings.Contains(inProgress, want) {
			t.Errorf("the page's in-progress table lacks %q:\n%s", want, inProgress)
		}
	}
	if strings.Contains(ended, id) {
		t.Errorf("the page shows %s as ended while it drains:\n%s", id, ended)
	}
	v := fetchDrains(t, base)
	if !slices.ContainsFunc(v.InProgress, func(j reconciler.DrainInProgress) bool {
		return j.InstanceID == id && j.ASG == "web-asg" && j.Phase == reconciler.PhaseDraining && strings.HasSuffix(j.Cluster, ":cluster/web")
	}) || slices.ContainsFunc(v.Ended, func(e reconciler.EndedDrain) bool { return e.InstanceID == id }) {
		t.Errorf("/drains disagrees with the page: %s not draining in web-asg, cluster web, in progress:\n%+v", id, v)
	}
}

// checkPageEnded checks the page and /drains show the drain of id among the ended ones (e),
// drained, and no longer in progress, while the drain of held still is.
func checkPageEnded(t *testing.T, chromium, base, id, held string, e reconciler.EndedDrain) {
	t.Helper()
	waitDraining(t, base, held)
	shot := filepath.Join(t.TempDir(), "drains-page.png")
	if path := os.Getenv(drainsPageScreenshotEnv); path != "" {
		shot = path
	}
	dom := chromiumDOM(t, chromium, base+"/")
	chromiumScreenshot(t, chromium, base+"/", shot)
	inProgress, ended := domSection(t, dom, "in-progress"), domSection(t, dom, "ended")
	for _, want := range []string{id, "web-asg", e.OutcomeText, awsapi.LifecycleActionContinue} {
		if !strings.Contains(ended, want) {
			t.Errorf("the page's ended table lacks %q:\n%s", want, ended)
		}
	}
	if strings.Contains(inProgress, id) || !strings.Contains(inProgress, held) {
		t.Errorf("the page's in-progress table shows %s, or lacks %s:\n%s", id, held, inProgress)
	}
	v := fetchDrains(t, base)
	if slices.ContainsFunc(v.InProgress, func(d reconciler.DrainInProgress) bool { return d.InstanceID == id }) ||
		!slices.ContainsFunc(v.InProgress, func(d reconciler.DrainInProgress) bool { return d.InstanceID == held }) {
		t.Errorf("/drains disagrees with the page: %s in progress, or %s not:\n%+v", id, held, v.InProgress)
	}
	// --simulate consumes the demo's event queue: by now it has received and handled events.
	if q := v.Health.EventQueue; !v.Health.Ready || v.Health.LastResync == nil || q == nil || !q.Receiving || q.LastHandled == nil {
		t.Errorf("/drains health %+v (event queue %+v): want ready, resynced, the event queue receiving and an event handled", v.Health, q)
	}
	if health := domSection(t, dom, "health"); strings.Contains(health, "not configured") || strings.Contains(health, "failing") {
		t.Errorf("the page's health section says the event queue is not configured or failing:\n%s", health)
	}
	t.Logf("screenshot: %s", shot)
}

// holdDrain terminates the instance that runs one of the demo's standalone tasks in cluster. With
// --standalone-task-policy wait its drain stays in progress until the task is stopped. The instance
// is replaced rather than the group shrunk, so the demo's scale loop cannot have taken the group to
// its minimum size first. The loop may have picked the instance itself already: then its drain is
// the one to watch.
func holdDrain(t *testing.T, as *autoscaling.Client, ec *ecs.Client, cluster string) (taskArn, instanceID string) {
	t.Helper()
	taskArn, instanceID = standaloneTask(t, ec, cluster)
	if _, err := as.TerminateInstanceInAutoScalingGroup(t.Context(), &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(instanceID), ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Logf("terminating %s: %v (already terminating?)", instanceID, err)
	}
	return taskArn, instanceID
}

// waitDraining waits until /drains shows a drain of id in progress, DRAINING, and returns it.
func waitDraining(t *testing.T, base, id string) reconciler.DrainInProgress {
	t.Helper()
	var d reconciler.DrainInProgress
	waitDrains(t, base, "drain of "+id+" in progress and DRAINING", func(v reconciler.DrainsView) bool {
		i := slices.IndexFunc(v.InProgress, func(d reconciler.DrainInProgress) bool { return d.InstanceID == id })
		if i >= 0 {
			d = v.InProgress[i]
		}
		return i >= 0 && d.Phase == reconciler.PhaseDraining
	})
	return d
}

// standaloneTask returns a running standalone task of the demo (started by "demo") in cluster and
// the EC2 instance it runs on.
func standaloneTask(t *testing.T, ec *ecs.Client, cluster string) (taskArn, instanceID string) {
	t.Helper()
	list, err := ec.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String("demo"), DesiredStatus: ecstypes.DesiredStatusRunning})
	if err != nil || len(list.TaskArns) == 0 {
		t.Fatalf("ListTasks startedBy demo in %s: %v, %v", cluster, list, err)
	}
	tasks, err := ec.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: list.TaskArns[:1]})
	if err != nil || len(tasks.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v, %v", tasks, err)
	}
	ci, err := ec.DescribeContainerInstances(t.Context(), &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String(cluster), ContainerInstances: []string{aws.ToString(tasks.Tasks[0].ContainerInstanceArn)},
	})
	if err != nil || len(ci.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %v, %v", ci, err)
	}
	return aws.ToString(tasks.Tasks[0].TaskArn), aws.ToString(ci.ContainerInstances[0].Ec2InstanceId)
}

// fetchDrains reads /drains.
func fetchDrains(t *testing.T, base string) reconciler.DrainsView {
	t.Helper()
	v, err := getDrains(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func getDrains(ctx context.Context, base string) (reconciler.DrainsView, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/drains", nil)
	if err != nil {
		return reconciler.DrainsView{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reconciler.DrainsView{}, fmt.Errorf("GET /drains: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reconciler.DrainsView{}, fmt.Errorf("reading /drains: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return reconciler.DrainsView{}, fmt.Errorf("GET /drains: %s: %s", resp.Status, body)
	}
	var v reconciler.DrainsView
	if err := json.Unmarshal(body, &v); err != nil {
		return reconciler.DrainsView{}, fmt.Errorf("decoding /drains: %w: %s", err, body)
	}
	return v, nil
}

// waitDrains polls /drains until cond holds, failing after a bound well above a demo drain.
func waitDrains(t *testing.T, base, what string, cond func(reconciler.DrainsView) bool) {
	t.Helper()
	last := ""
	err := harness.Eventually(2*time.Minute, 250*time.Millisecond, func() (bool, string) {
		v, err := getDrains(t.Context(), base)
		if err != nil {
			return false, err.Error()
		}
		last = fmt.Sprintf("%+v", v)
		return cond(v), last
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// chromiumFlags start headless Chromium with nothing of its own reaching the network (this machine
// refuses it) and a fresh profile.
func chromiumFlags(t *testing.T) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
	}
}

// chromiumDOM loads url in headless Chromium and returns the DOM it rendered.
func chromiumDOM(t *testing.T, chromium, url string) string {
	t.Helper()
	out := runChromium(t, chromium, append(chromiumFlags(t), "--dump-dom", url))
	if !strings.Contains(out, "</html>") {
		t.Fatalf("chromium --dump-dom %s printed no page:\n%s", url, out)
	}
	return out
}

// chromiumScreenshot saves a PNG of url as a desktop browser window shows it.
func chromiumScreenshot(t *testing.T, chromium, url, path string) {
	t.Helper()
	runChromium(t, chromium, append(chromiumFlags(t), "--window-size=1100,560", "--screenshot="+path, url))
	png, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("chromium --screenshot wrote no PNG to %s: %v", path, err)
	}
}

func runChromium(t *testing.T, chromium string, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// domSection returns the HTML of <section id="id"> in a DOM Chromium dumped.
func domSection(t *testing.T, dom, id string) string {
	t.Helper()
	start := strings.Index(dom, `<section id="`+id+`">`)
	if start < 0 {
		t.Fatalf("the page has no section %q:\n%s", id, dom)
	}
	end := strings.Index(dom[start:], "</section>")
	if end < 0 {
		t.Fatalf("section %q is not closed:\n%s", id, dom)
	}
	return dom[start : start+end]
}
