# syntax=docker/dockerfile:1
# Airbyte images of both connectors, built from the one Python distribution in this repository:
#   docker build --target source-commercetools -t airbyte-commercetools-crmone/source-commercetools:0.1.0 .
#   docker build --target destination-crmone -t airbyte-commercetools-crmone/destination-crmone:0.1.0 .
# Base: airbyte/python-connector-base 4.0.2 (Python 3.11, non-root user `airbyte`, uid 1000),
# pinned by digest. metadata.yaml repeats this reference as connectorBuildOptions.baseImage and
# unit_tests/test_packaging.py keeps the two, the labels and the entrypoints in agreement.

FROM --platform=linux/amd64 docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73 AS base

# Builder: installs the distribution (not editable) into a virtualenv. Only what the wheel needs
# is copied in; sandbox/, unit_tests/, integration_tests/, bench/, demo/ and docs/ never are.
FROM base AS builder
WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
COPY source_commercetools ./source_commercetools
COPY destination_crmone ./destination_crmone
RUN python -m venv /airbyte/integration_code/.venv \
    && /airbyte/integration_code/.venv/bin/pip install --no-cache-dir .

# Runtime: the base image plus the installed virtualenv; no source tree, no build leftovers.
FROM base AS runtime
WORKDIR /airbyte/integration_code
COPY --from=builder /airbyte/integration_code/.venv /airbyte/integration_code/.venv
ENV PATH="/airbyte/integration_code/.venv/bin:${PATH}"

FROM runtime AS source-commercetools
LABEL io.airbyte.name="airbyte-commercetools-crmone/source-commercetools"
LABEL io.airbyte.version="0.1.0"
USER airbyte
ENV AIRBYTE_ENTRYPOINT="/airbyte/integration_code/.venv/bin/source-commercetools"
ENTRYPOINT ["/airbyte/integration_code/.venv/bin/source-commercetools"]

FROM runtime AS destination-crmone
# The journal's default path is /local/crmone/journal.db whenever /local exists
# (destination_crmone.config.default_journal_path). The base image's `airbyte` user has no home
# directory, so the other default (the user data dir) would not be writable: create /local/crmone
# owned by `airbyte` so a config without a journal path works. When Airbyte mounts /local (its
# LOCAL_ROOT volume), the mount hides this directory and the journal lives on the host; without
# the mount it lives in the container and is lost with it. For a durable sync log and retry queue
# on Kubernetes, use journal.type=postgres.
RUN mkdir -p /local/crmone && chown -R airbyte:airbyte /local
LABEL io.airbyte.name="airbyte-commercetools-crmone/destination-crmone"
LABEL io.airbyte.version="0.1.0"
USER airbyte
ENV AIRBYTE_ENTRYPOINT="/airbyte/integration_code/.venv/bin/destination-crmone"
ENTRYPOINT ["/airbyte/integration_code/.venv/bin/destination-crmone"]
