# replyd's container image. Build it from the repository's root:
#   podman build --format docker -t replyd .        (docker build -t replyd . works the same)
# The builder stage compiles llama-cpp-python (about 5 minutes on 2 cores) unless wheels/ holds a
# wheel of it already; the final stage gets only the installed virtualenv and the libraries it
# needs at run time. See docs/deploy.md.

# Any Debian-based image with python3 and its venv module (3.11 or newer).
ARG BASE=python:3.11-slim

FROM ${BASE} AS builder
COPY wheels/ /wheels/
# A compiler only when llama-cpp-python must be built from source.
RUN if ! ls /wheels/llama_cpp_python-*.whl >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY pyproject.toml README.md /src/
COPY replyd/ /src/replyd/
# Compiled for any CPU of the architecture, as the Makefile compiles it (the reason is there).
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN python3 -m venv /opt/replyd \
    && CMAKE_ARGS="$LLAMA_CMAKE_ARGS" /opt/replyd/bin/pip install --no-cache-dir --find-links /wheels /src

FROM ${BASE}
# llama.cpp's runtime libraries: OpenMP and the C++ standard library.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/replyd replyd
COPY --from=builder /opt/replyd /opt/replyd
USER 10001
WORKDIR /home/replyd
ENV PATH=/opt/replyd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REPLYD_HOST=0.0.0.0 \
    PORT=8000 \
    REPLYD_WORKERS=1
EXPOSE 8000
# Ready means the database (and Redis, when set) answer; a load balancer should use /readyz too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['PORT'] + '/readyz', timeout=4)"]
# SIGTERM (the default stop signal) lets replies in flight finish for REPLYD_SHUTDOWN_GRACE_S
# (30 s), and summaries being written ahead as long again: give the container more than 60 s to stop.
ENTRYPOINT ["replyd"]
CMD ["serve"]
