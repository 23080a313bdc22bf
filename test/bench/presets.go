package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// PresetDefaults200 is issue 9's check of the polling defaults: a cluster of 200 instances in one
// group, 20 scaled in at once, tasks that stop in a few seconds, no standalone task (it would wait
// out its grace), and the controller on its own defaults, read from pkg/options so the preset
// follows them when they change.
const PresetDefaults200 = "defaults-200"

// presets are named sets of flag values; a flag given on the command line wins over its preset.
var presets = map[string]func() (map[string]string, error){
	PresetDefaults200: func() (map[string]string, error) {
		flags := map[string]string{
			"instances": "200", "asgs": "1", "clusters": "1", "scale-in": "20",
			"tasks-per-instance": "1", "services-per-cluster": "1", "standalone-per-asg": "0", "task-slots": "4",
		}
		defaults, err := controllerDefaults()
		if err != nil {
			return nil, err
		}
		maps.Copy(flags, defaults)
		return flags, nil
	},
}

func presetNames() string { return strings.Join(slices.Sorted(maps.Keys(presets)), ", ") }

// controllerDefaults are the bench flags that pass a controller setting on, at the controller's
// own defaults.
func controllerDefaults() (map[string]string, error) {
	o, err := options.Parse(nil, func(string) string { return "" })
	if err != nil {
		return nil, fmt.Errorf("reading the controller's defaults: %w", err)
	}
	return map[string]string{
		"resync-period":         o.ResyncPeriod.String(),
		"poll-interval":         o.PollInterval.String(),
		"standalone-task-grace": o.StandaloneTaskGrace.String(),
		"aws-qps":               strconv.FormatFloat(o.AWSQPS, 'g', -1, 64),
		"aws-burst":             strconv.Itoa(o.AWSBurst),
	}, nil
}

// applyPreset sets the flags of preset name that were not given.
func applyPreset(fs *pflag.FlagSet, name string) error {
	if name == "" {
		return nil
	}
	get, ok := presets[name]
	if !ok {
		return fmt.Errorf("--preset is %q: must be one of %s", name, presetNames())
	}
	flags, err := get()
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		if fs.Changed(k) {
			continue
		}
		if err := fs.Set(k, flags[k]); err != nil {
			return fmt.Errorf("--preset %s: --%s=%s: %w", name, k, flags[k], err)
		}
	}
	return nil
}
