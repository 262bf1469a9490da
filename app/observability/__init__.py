"""What operators watch: Prometheus metrics (``metrics``), the ids every log line of a run
or a request carries (``context``), the HTTP middleware that times, counts and logs each
request (``http``), and optional OpenTelemetry traces (``tracing``).

These modules import nothing else of Turnstile's, so every layer may call them.
"""
