# syntax=docker/dockerfile:1
# Airbyte images of both connectors, built from the one Python distribution in this repository,
# for linux/amd64 and linux/arm64 alike (no platform is forced; the base image is multi-arch):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg CONNECTOR_NAME=source-commercetools-keyset \
#     -t airbyte-commercetools-crmone/source-commercetools-keyset:0.2.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg CONNECTOR_NAME=destination-crmone \
#     -t airbyte-commercetools-crmone/destination-crmone:0.2.0 .
# (`--target <connector name>` selects the same stage.) `airbyte-cdk image build` passes
# BASE_IMAGE and CONNECTOR_NAME as build args; docs/internals.md ("Packaging") shows how it is run
# for each connector. Base: airbyte/python-connector-base 4.0.2 (Python 3.11, non-root user
# `airbyte`, uid 1000), pinned by digest; the connector's metadata.yaml repeats it as
# connectorBuildOptions.baseImage, and unit_tests/test_packaging.py keeps the two, the labels and
# the entrypoints in agreement.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
ARG CONNECTOR_NAME=source-commercetools-keyset

FROM ${BASE_IMAGE} AS base

# Builder: the locked dependencies first, each checked against its hash (requirements.lock,
# regenerated as README.md says), then the distribution itself without resolving anything.
# Only what the wheel needs is copied in; sandbox/, unit_tests/, integration_tests/, bench/,
# demo/ and docs/ never are.
FROM base AS builder
WORKDIR /airbyte/integration_code
COPY requirements.lock ./
RUN python -m venv /airbyte/integration_code/.venv \
    && /airbyte/integration_code/.venv/bin/pip install --no-cache-dir --require-hashes \
        -r requirements.lock
COPY pyproject.toml README.md ./
COPY connectors_common ./connectors_common
COPY source_commercetools ./source_commercetools
COPY destination_crmone ./destination_crmone
RUN /airbyte/integration_code/.venv/bin/pip install --no-cache-dir --no-deps \
        --no-build-isolation .

# Runtime: the base image plus the installed virtualenv; no source tree, no build leftovers.
FROM base AS runtime
WORKDIR /airbyte/integration_code
COPY --from=builder /airbyte/integration_code/.venv /airbyte/integration_code/.venv
ENV PATH="/airbyte/integration_code/.venv/bin:${PATH}"

FROM runtime AS source-commercetools-keyset
LABEL io.airbyte.name="airbyte-commercetools-crmone/source-commercetools-keyset"
LABEL io.airbyte.version="0.2.0"
USER airbyte
ENV AIRBYTE_ENTRYPOINT="/airbyte/integration_code/.venv/bin/source-commercetools-keyset"
ENTRYPOINT ["/airbyte/integration_code/.venv/bin/source-commercetools-keyset"]

# No /local here: the journal must live on storage the operator chose (a mounted volume or
# PostgreSQL), never on a directory the image creates and the container loses.
FROM runtime AS destination-crmone
LABEL io.airbyte.name="airbyte-commercetools-crmone/destination-crmone"
LABEL io.airbyte.version="0.2.0"
USER airbyte
ENV AIRBYTE_ENTRYPOINT="/airbyte/integration_code/.venv/bin/destination-crmone"
ENTRYPOINT ["/airbyte/integration_code/.venv/bin/destination-crmone"]

# The image built without --target: the stage named by CONNECTOR_NAME.
FROM ${CONNECTOR_NAME}
