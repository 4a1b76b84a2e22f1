# helmrelease-operator: the Python package plus a pinned, checksum-verified helm 4.
#   docker build -t helmrelease-operator:dev .
# Multi-architecture builds (docker buildx --platform linux/amd64,linux/arm64) pick the
# matching helm archive through TARGETARCH.

ARG PYTHON_IMAGE=python:3.12-slim

# --- the package and its dependencies in a virtualenv --------------------------------------
FROM ${PYTHON_IMAGE} AS package
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# .dockerignore lets only the package sources and its metadata in.
COPY . .
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

# --- helm, downloaded and verified against the upstream release checksums ------------------
FROM ${PYTHON_IMAGE} AS helm
ARG TARGETARCH
ARG HELM_VERSION=4.1.4
# sha256 of helm-v4.1.4-linux-<arch>.tar.gz as published with the upstream release. Changing
# HELM_VERSION without these makes the build fail: the check below fails closed.
ARG HELM_SHA256_AMD64=70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09
ARG HELM_SHA256_ARM64=13d03672be289045d2ff00e4e345d61de1c6f21c1257a45955a30e8ae036d8f1
RUN set -eu; \
    arch="${TARGETARCH:-amd64}"; \
    case "$arch" in \
      amd64) sha256="$HELM_SHA256_AMD64" ;; \
      arm64) sha256="$HELM_SHA256_ARM64" ;; \
      *) echo "no pinned helm checksum for architecture $arch" >&2; exit 1 ;; \
    esac; \
    url="https://get.helm.sh/helm-v${HELM_VERSION}-linux-${arch}.tar.gz"; \
    python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$url" /tmp/helm.tar.gz; \
    echo "$sha256  /tmp/helm.tar.gz" | sha256sum --check --strict -; \
    mkdir /tmp/helm; \
    tar -xzf /tmp/helm.tar.gz -C /tmp/helm --strip-components=1 "linux-${arch}/helm"; \
    install -m 0755 /tmp/helm/helm /usr/local/bin/helm; \
    helm version --short | grep -qx "v${HELM_VERSION}+g[0-9a-f]*"

# --- runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="helmrelease-operator" \
      org.opencontainers.image.description="Kubernetes operator that releases Helm charts declared as HelmRelease resources" \
      org.opencontainers.image.licenses="Apache-2.0"
# HOME=/tmp: helm keeps its cache and config under HOME, and in the cluster only /tmp and
# the chart cache are writable (readOnlyRootFilesystem).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HELMRELEASE_HELM_BIN=/usr/local/bin/helm \
    HOME=/tmp
# git (and ssh) for charts from git repositories
RUN apt-get update \
    && apt-get install --yes --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin nonroot \
    && install -d -o 65532 -g 65532 /var/cache/helmrelease-operator
COPY --from=package /opt/venv /opt/venv
COPY --from=helm /usr/local/bin/helm /usr/local/bin/helm
# Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["helmrelease-operator"]
CMD ["run"]
