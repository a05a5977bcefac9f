"""Performance benchmarks of autobot-apm; see docs/performance.md. Run: python -m benchmarks."""
