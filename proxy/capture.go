package proxy

import (
	"net"

	"go.uber.org/zap"

	"github.com/fwdproxy/fwdproxy/capture"
)

// openCapture starts --capture-file; nil without one.
func openCapture(cfg *Config, log *zap.Logger) (*capture.Writer, error) {
	if cfg.CaptureFile == "" {
		return nil, nil
	}
	w, err := capture.Create(cfg.CaptureFile, int64(cfg.CaptureMaxBytes), func(st capture.Stats) {
		why := "capture stopped at --capture-max-bytes; nothing more is recorded"
		if st.Error != "" {
			why = "capture stopped: the file could not be written; nothing more is recorded"
		}
		log.Warn(why, zap.String("file", st.File), zap.Int64("records", st.Records), zap.Int64("bytes", st.Bytes), zap.String("error", st.Error))
	})
	if err != nil {
		return nil, err
	}
	log.Info("capturing client commands", zap.String("file", cfg.CaptureFile), zap.Int("max-bytes", cfg.CaptureMaxBytes))
	return w, nil
}

// startCapture records the session's connect and returns its client
// connection tapped, so the capture sees what each command got.
func (s *session) startCapture(raw net.Conn) net.Conn {
	s.capture = s.srv.capture.Open(s.id, capture.Client{User: s.user, DB: s.state.DB, Program: s.program, Caps: s.clientCaps,
		CacheMetadata: s.clientExt&extCacheMetadata != 0})
	return s.capture.Tap(raw)
}

// captureStats is /status's capture counters (nil without a capture).
func (s *Server) captureStats() *capture.Stats {
	if s.capture == nil {
		return nil
	}
	st := s.capture.Stats()
	return &st
}
