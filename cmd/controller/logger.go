package main

import (
	"io"
	"os"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecs-drainer/ecs-drainer/pkg/options"
)

// newLogger builds the logr.Logger every part logs through: zap underneath, JSON for machines or a
// console layout for people, at info or debug (logr's V(1)). The returned func flushes buffered
// entries; call it before exiting.
func newLogger(format, level string, w io.Writer) (logr.Logger, func()) {
	lvl := zapcore.InfoLevel
	if level == options.LogLevelDebug {
		lvl = zapcore.DebugLevel
	}
	var enc zapcore.Encoder
	opts := []zap.Option{}
	if format == options.LogFormatConsole {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		if isTerminal(w) {
			cfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		// No caller: a person watching the demo wants the event, not the source line.
		cfg.CallerKey = zapcore.OmitKey
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
		opts = append(opts, zap.AddCaller())
	}
	z := zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl), opts...)
	// Sync fails harmlessly on terminals and pipes (EINVAL); there is nothing to do about it.
	return zapr.NewLogger(z), func() { _ = z.Sync() }
}

// isTerminal reports whether w is a character device, where colour codes render.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
