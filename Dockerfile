# The `hydrate` command in an image: the packed package installed globally on Node 20, the same
# bundle `npm install -g event-hydrator` gives (every client inside, nothing else to install).
#
#   docker build -t event-hydrator .
#   docker run --rm -v "$PWD:/work" event-hydrator --source json:events.ndjson --filter rule.json --sink ndjson:-
#
# AWS credentials and endpoints come from the environment as everywhere (-e AWS_REGION -e ...).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# prepack builds dist/ (library and bundled command) into the tarball.
RUN npm pack --pack-destination /tmp && mv /tmp/event-hydrator-*.tgz /tmp/event-hydrator.tgz

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
COPY --from=build /tmp/event-hydrator.tgz /tmp/event-hydrator.tgz
RUN npm install --global --no-audit --no-fund /tmp/event-hydrator.tgz \
 && rm /tmp/event-hydrator.tgz \
 && npm cache clean --force \
 && hydrate --version
USER node
WORKDIR /work
ENTRYPOINT ["hydrate"]
CMD ["--help"]
