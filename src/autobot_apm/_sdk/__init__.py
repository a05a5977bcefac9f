"""The OpenTelemetry SDK set-up: configure/shutdown, settings, providers, exporters, loss
accounting, Prometheus, logs, pools and the console view.
"""
