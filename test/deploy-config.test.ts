import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { test } from 'node:test'
import { CONFIG_VARIABLES, ConfigError, loadConfig, type Config } from '../src/config.ts'
import {
  REPO,
  composeEnvironment,
  composeFiles,
  durationMs,
  kubernetesFiles,
  loadCompose,
  nginxBytes,
  readNginx,
  unreadYamlFiles,
  type Env,
} from './deploy-files.ts'
import { kubernetesEnvironment, loadManifests, preStopMs, selects } from './deploy-manifests.ts'

// The deployment examples in deploy/ are configuration that no other test runs. Each proxy container's environment,
// as Compose or Kubernetes would hand it over, goes through the proxy's own loadConfig, and the facts that must agree
// with the loaded values (grace periods, probes, ports, Redis, the balancer's upstream) are checked against it.

/** loadConfig, after checking that every variable is one it reads: it ignores the others, a misspelt name included. */
function loadContainerConfig(env: Env, where: string): Config {
  // The OpenTelemetry SDK reads the other OTEL_* variables itself (docs/configuration.md#tracing).
  const unknown = Object.keys(env).filter((name) => !CONFIG_VARIABLES.includes(name) && !name.startsWith('OTEL_'))
  assert.deepEqual(unknown, [], `${where}: variables src/config.ts does not read`)
  try {
    return loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) assert.fail(`${where}: ${error.message}`)
    throw error
  }
}

function assertServiceMode(config: Config, where: string) {
  assert.equal(config.nodeEnv, 'production', where)
  assert.ok(config.aifiBaseUrl !== undefined && config.aifiApiToken !== undefined, `${where}: AiFi origin and token`)
  assert.ok((config.callerKeys?.length ?? 0) > 0, `${where}: caller keys`)
  assert.equal(config.aifiMaxRps, 20, `${where}: AIFI_MAX_RPS is the cluster's rate`)
  assert.ok(config.redisUrl !== undefined, `${where}: REDIS_URL`)
}

test('every YAML file in deploy/ is read here, and each compose example has three replicas built from the repository Dockerfile', () => {
  assert.deepEqual(unreadYamlFiles, [])
  assert.ok(composeFiles.length > 0 && kubernetesFiles.length > 0)
  for (const file of composeFiles) {
    const { dir, replicas } = loadCompose(file)
    assert.equal(replicas.length, 3, file)
    for (const [name, { build, deploy }] of replicas) {
      assert.equal(resolve(dir, build!.context), resolve(REPO), `${name} builds the repository`)
      assert.equal(build!.dockerfile, 'Dockerfile', name)
      assert.equal(deploy?.replicas ?? 1, 1, `${name}: one container per replica service, as the balancer lists them`)
    }
  }
})

test('every compose replica loads in service mode, with a stop grace above its drain, /readyz as its health and the shared Redis', () => {
  for (const file of composeFiles) {
    const { services, replicas } = loadCompose(file)
    for (const [name, service] of replicas) {
      const where = `${file} ${name}`
      const config = loadContainerConfig(composeEnvironment(service), where)
      assertServiceMode(config, where)
      const stopGraceMs = durationMs(service.stop_grace_period ?? '10s') // Compose's default
      assert.ok(stopGraceMs > config.shutdownGraceMs + config.shutdownDelayMs, `${where}: stop_grace_period covers the drain`)
      assert.match(service.healthcheck?.test ?? '', /\/readyz\b/, `${where}: healthcheck`)

      const redisUrl = new URL(config.redisUrl!)
      const redis = services[redisUrl.hostname]
      assert.ok(redis !== undefined, `${where}: REDIS_URL names the service ${redisUrl.hostname}`)
      assert.equal(redisUrl.port || '6379', '6379', where)
      assert.match(redis.image ?? '', /^redis:/, 'the official redis image')
      assert.match(redis.healthcheck?.test ?? '', /redis-cli ping/)
      const dependsOn = service.depends_on
      assert.ok(dependsOn !== undefined && !Array.isArray(dependsOn), where)
      assert.equal(dependsOn[redisUrl.hostname]?.condition, 'service_healthy', `${where} waits for Redis`)
    }
  }
})

test('the compose balancer round-robins over every replica on its PORT, never re-sends a PATCH, passes credentials and trace context', () => {
  for (const file of composeFiles) {
    const { dir, services, replicas } = loadCompose(file)
    const [balancerName, balancer] = Object.entries(services).find(([, service]) => /^nginx:/.test(service.image ?? ''))!
    assert.equal(balancer.ports.length, 1, `${balancerName} publishes one port`)
    const mount = balancer.volumes.map((volume) => volume.split(':')).find(([, target]) => target?.startsWith('/etc/nginx/'))
    assert.ok(mount !== undefined, `${balancerName} mounts its configuration`)
    const nginx = readNginx(resolve(dir, mount[0]!))

    const [upstream, ...others] = nginx.directives('proxy_pass').map((target) => /^http:\/\/([\w-]+)$/.exec(target)?.[1])
    assert.deepEqual(others, [], 'one proxy_pass')
    const servers = nginx.upstreams.get(upstream!)
    assert.ok(servers !== undefined, `upstream ${upstream}`)
    assert.deepEqual(nginx.directives('least_conn|ip_hash|hash|random'), [], 'round robin, no affinity')
    const configs = replicas.map(([name, service]) => [name, loadContainerConfig(composeEnvironment(service), name)] as const)
    assert.deepEqual([...servers].sort(), configs.map(([name, config]) => `${name}:${config.port}`).sort(), 'every replica, on its loaded PORT')

    for (const retries of nginx.directives('proxy_next_upstream')) assert.doesNotMatch(retries, /non_idempotent/)
    assert.deepEqual(nginx.directives('proxy_pass_request_headers'), [], 'request headers are passed (the default)')
    const headers = nginx.directives('proxy_set_header').map((value) => value.split(/\s+/))
    const setTo = (header: string) => headers.filter(([name]) => name!.toLowerCase() === header.toLowerCase()).map(([, value]) => value)
    assert.deepEqual(setTo('Authorization'), ['$http_authorization'])
    assert.deepEqual(setTo('traceparent'), ['$http_traceparent'])
    const [requestId] = setTo('X-Request-Id')
    assert.ok(requestId !== undefined, 'X-Request-Id is passed on')
    // The caller's own header, or a map whose default is the caller's own header.
    if (requestId !== '$http_x_request_id') assert.match(nginx.map('$http_x_request_id', requestId) ?? '', /^\s*default\s+\$http_x_request_id;/m)

    for (const [name, config] of configs) {
      assert.ok(durationMs(nginx.directives('proxy_read_timeout')[0]!) > config.requestDeadlineMs, `${name} times out first, in its own shape`)
      assert.ok(nginxBytes(nginx.directives('client_max_body_size')[0]!) > config.bodyLimitBytes, `${name} answers oversized bodies`)
    }
  }
})

test('the Kubernetes proxy loads its ConfigMap and Secret in service mode, with probes, port, grace period and Redis that agree with it', () => {
  const manifests = loadManifests()
  const isProxy = ({ image }: { image: string }) => /(^|\/)aifi-merge-proxy:/.test(image)
  const proxies = manifests.all('Deployment').filter(({ spec }) => spec.template.spec.containers.some(isProxy))
  assert.equal(proxies.length, 1, 'one proxy Deployment')
  const deployment = proxies[0]!
  assert.equal(deployment.spec.replicas, 3)
  const pod = deployment.spec.template
  assert.ok(selects(deployment.spec.selector.matchLabels, pod.metadata.labels))
  assert.equal(pod.spec.containers.length, 1)
  const container = pod.spec.containers[0]!
  const config = loadContainerConfig(kubernetesEnvironment(manifests, container), `${deployment.file} ${container.name}`)
  assertServiceMode(config, deployment.file)

  assert.deepEqual(container.ports.map(({ containerPort }) => containerPort), [config.port], 'the container port is the loaded PORT')
  const portOf = (port: string | number) => (typeof port === 'number' ? port : container.ports.find(({ name }) => name === port)?.containerPort)
  assert.equal(container.readinessProbe?.httpGet?.path, '/readyz')
  assert.equal(container.livenessProbe?.httpGet?.path, '/healthz')
  for (const probe of [container.readinessProbe!, container.livenessProbe!]) assert.equal(portOf(probe.httpGet!.port), config.port)

  const holdMs = preStopMs(container)
  assert.ok(config.shutdownDelayMs > 0 || holdMs > 0, 'SHUTDOWN_DELAY_MS or a preStop sleep lets the balancers drop the pod first')
  const graceMs = pod.spec.terminationGracePeriodSeconds * 1000
  assert.ok(graceMs > holdMs + config.shutdownDelayMs + config.shutdownGraceMs, 'terminationGracePeriodSeconds covers the whole drain')

  const { runAsNonRoot, runAsUser } = pod.spec.securityContext
  assert.equal(runAsNonRoot, true)
  assert.ok(runAsUser !== undefined && runAsUser > 0, "a numeric user: the image's USER is a name, which runAsNonRoot cannot check")
  assert.equal(container.securityContext.readOnlyRootFilesystem, true)
  assert.ok(container.resources.requests !== undefined && container.resources.limits !== undefined, 'requests and limits')

  const proxyServices = manifests.all('Service').filter(({ spec }) => selects(spec.selector, pod.metadata.labels))
  assert.equal(proxyServices.length, 1, 'a Service selects the proxy pods')
  for (const { port, targetPort } of proxyServices[0]!.spec.ports) {
    assert.equal(portOf(targetPort ?? port), config.port, 'the Service reaches the loaded PORT')
  }
  for (const { spec } of manifests.all('PodDisruptionBudget')) {
    assert.ok(selects(spec.selector.matchLabels, pod.metadata.labels), 'the PodDisruptionBudget covers the proxy pods')
  }

  const redisUrl = new URL(config.redisUrl!)
  const redisService = manifests.named('Service', redisUrl.hostname.split('.')[0]!)
  assert.ok(redisService.spec.ports.some(({ port }) => String(port) === (redisUrl.port || '6379')), 'REDIS_URL names the Service port')
  const redis = manifests.all('Deployment').filter(({ spec }) => selects(redisService.spec.selector, spec.template.metadata.labels))
  assert.equal(redis.length, 1, `one Deployment behind the Service ${redisService.metadata.name}`)
  assert.equal(redis[0]!.spec.replicas, 1, 'a single Redis')
  assert.match(redis[0]!.spec.template.spec.containers[0]!.image, /^redis:/, 'the official redis image')
})

test('the placeholder Secret is an example that `kubectl apply -f deploy/kubernetes/` never applies', () => {
  const secrets = loadManifests().all('Secret')
  assert.ok(secrets.length > 0, 'an example Secret')
  for (const { file } of secrets) assert.match(file, /\.example$/, `${file} would be applied over the real Secret`)
})
