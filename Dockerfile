# The service-ioc demo stack in a container: Debian 12, Node.js 20, systemd,
# D-Bus and redis, running the same demo as `npm run demo` (a private
# systemd --user manager with redis and a queueserver stand-in as units).
# node:20-bookworm is Debian 12 with Node.js 20.
FROM node:20-bookworm

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      systemd dbus-daemon util-linux redis-server redis-tools python3-pyepics \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/service-ioc
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm run build:test

# Channel Access: search (UDP) and circuits (TCP) on 5064, beacons to 5065.
EXPOSE 5064/tcp 5064/udp 5065/udp
ENV EPICS_CAS_SERVER_PORT=5064
CMD ["node", "build/demo/demo.js", "--out", "/opt/service-ioc/demo-out"]
