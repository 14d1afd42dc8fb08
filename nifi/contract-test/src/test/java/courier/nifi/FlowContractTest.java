package courier.nifi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.nifi.components.ConfigurableComponent;
import org.apache.nifi.components.PropertyDescriptor;
import org.apache.nifi.components.ValidationResult;
import org.apache.nifi.controller.ControllerService;
import org.apache.nifi.flowfile.FlowFile;
import org.apache.nifi.processor.Processor;
import org.apache.nifi.processor.Relationship;
import org.apache.nifi.util.MockFlowFile;
import org.apache.nifi.util.TestRunner;
import org.apache.nifi.util.TestRunners;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Loads nifi/courier-receiver.json into NiFi's own components (nifi-mock TestRunners, one per processor) and proves
 * (1) every processor and controller service is valid with exactly the flow's properties, and (2) the request path,
 * wired as the flow's connections say, answers courier's client over real mutual TLS as cases.json expects.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FlowContractTest {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern PARAMETER = Pattern.compile("#\\{([^}]+)}");
    private static final String OUTPUT_PORT = "OUTPUT_PORT";

    private static Path repo;
    private static Path target;
    private static JsonNode flow;
    private static JsonNode certs;
    private static Map<String, String> parameters;
    private static TestRunner cacheServerHost;
    private static ControllerService cacheServer;
    private static JsonNode cacheServerNode;

    @BeforeAll
    static void setUp() throws Exception {
        repo = Path.of(System.getProperty("courier.repo")).toAbsolutePath().normalize();
        target = repo.resolve("nifi/contract-test/target");
        flow = JSON.readTree(repo.resolve("nifi/courier-receiver.json").toFile());
        final Path certDir = target.resolve("certs");
        python(List.of("certs", certDir.toString()));
        certs = JSON.readTree(certDir.resolve("certs.json").toFile());
        final Path truststore = certDir.resolve("truststore.p12");
        // Two CAs, as when the truststore also serves other clients: the "other-trusted-ca" case.
        final List<Path> trustedCas = new ArrayList<>();
        certs.get("trusted_cas").forEach(ca -> trustedCas.add(Path.of(ca.asText())));
        TestKeystores.truststore(trustedCas, truststore, certs.get("keystore_password").asText());

        final int cachePort = freePort();
        parameters = new HashMap<>();
        parameters.put("courier.listen.host", "127.0.0.1");
        parameters.put("courier.listen.port", String.valueOf(freePort()));
        // Both modes: the cases drive certificates and header credentials (the flow's default is Need Authentication).
        parameters.put("courier.client.auth", "Want Authentication");
        parameters.put("courier.client.subject", TestKeystores.subjectAsNiFiPrintsIt(Path.of(certs.at("/clients/allowed/cert").asText())));
        parameters.put("courier.client.subject.next",
                TestKeystores.subjectAsNiFiPrintsIt(Path.of(certs.at("/clients/next-subject/cert").asText())));
        parameters.put("courier.client.issuer", TestKeystores.issuerAsNiFiPrintsIt(Path.of(certs.at("/clients/allowed/cert").asText())));
        parameters.put("courier.credential.salt", certs.get("salt").asText());
        parameters.put("courier.credential.sha256", certs.get("credential_sha256").asText());
        parameters.put("courier.credential.sha256.next", certs.get("credential_sha256_next").asText());
        parameters.put("courier.keystore.path", certs.get("keystore").asText());
        parameters.put("courier.keystore.password", certs.get("keystore_password").asText());
        parameters.put("courier.truststore.path", truststore.toString());
        parameters.put("courier.truststore.password", certs.get("keystore_password").asText());
        parameters.put("courier.dedup.cache.host", "127.0.0.1");
        parameters.put("courier.dedup.cache.port", String.valueOf(cachePort));
        parameters.put("courier.dedup.cache.entries", defaultOf("courier.dedup.cache.entries"));
        // Persisted like the flow's default, but fresh per run: every run posts the same bundle bytes again.
        final Path cacheDirectory = target.resolve("dedup-cache");
        if (Files.exists(cacheDirectory)) {
            try (var paths = Files.walk(cacheDirectory)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
            }
        }
        parameters.put("courier.dedup.cache.directory", cacheDirectory.toString());
        final Set<String> declared = new TreeSet<>();
        flow.at("/parameterContexts/courier-receiver/parameters").forEach(p -> declared.add(p.get("name").asText()));
        assertEquals(declared, new TreeSet<>(parameters.keySet()), "the test sets every parameter the flow declares");

        // The flow's own map cache server, with exactly the flow's properties, for DetectDuplicate's MapCacheClientService.
        cacheServerNode = null;
        for (final JsonNode serviceNode : flow.at("/flowContents/controllerServices")) {
            if (serviceNode.get("type").asText().endsWith(".MapCacheServer")) {
                cacheServerNode = serviceNode;
            }
        }
        assertTrue(cacheServerNode != null, "the flow defines its MapCacheServer");
        cacheServerHost = TestRunners.newTestRunner(new org.apache.nifi.processors.standard.RouteOnAttribute());
        cacheServer = instantiate(cacheServerNode, ControllerService.class);
        cacheServerHost.addControllerService(cacheServerNode.get("identifier").asText(), cacheServer,
                resolved(cacheServerNode.get("properties")));
        cacheServerHost.assertValid(cacheServer);
        cacheServerHost.enableControllerService(cacheServer);
    }

    @AfterAll
    static void tearDown() {
        if (cacheServerHost != null) {
            cacheServerHost.shutdown();
        }
    }

    @Test
    @Order(0)
    void parameterReferencesInsideQuotedExpressionLiteralsAreNotResolved() {
        final Map<String, String> x = Map.of("x", "v");
        assertEquals("${a:in('#{x}')}", resolveLikeNiFi("${a:in('#{x}')}", x));
        assertEquals("${a:in('v')}=v", resolveLikeNiFi("${a:in(#{x})}=#{x}", x));
        // The shipped rule routes the allowed subject; the same rule with its references quoted (the form no real
        // NiFi ever matched) does not, in this harness either.
        String rule = null;
        for (final JsonNode processorNode : flow.at("/flowContents/processors")) {
            if (processorNode.get("name").asText().equals("Authorize client")) {
                rule = processorNode.at("/properties/allowed-certificate").asText();
            }
        }
        final String issuer = parameters.get("courier.client.issuer");
        assertEquals(1, allowedCertificates(rule, issuer));
        assertEquals(0, allowedCertificates(rule.replaceAll("(#\\{[^}]+})", "'$1'"), issuer));
        // Courier's subject from another CA in the truststore is not allowed: the issuer is checked too.
        assertEquals(0, allowedCertificates(rule, "CN=Some other CA, O=elsewhere"));
    }

    @Test
    @Order(0)
    void subjectHelperPrintsWhatNiFisFormatterPrints() throws Exception {
        final Path dir = target.resolve("subjects");
        python(List.of("subjects", dir.toString()));
        final JsonNode printed = JSON.readTree(dir.resolve("subjects.json").toFile());
        assertTrue(printed.size() >= 5);
        printed.fields().forEachRemaining(e -> {
            try {
                assertEquals(TestKeystores.subjectAsNiFiPrintsIt(Path.of(e.getKey())), e.getValue().asText(), e.getKey());
            } catch (final Exception ex) {
                throw new AssertionError(ex);
            }
        });
    }

    private static int allowedCertificates(final String rule, final String issuer) {
        final TestRunner runner = TestRunners.newTestRunner(new org.apache.nifi.processors.standard.RouteOnAttribute());
        runner.setProperty("allowed-certificate", resolveLikeNiFi(rule, parameters));
        runner.enqueue(new byte[0], Map.of("http.subject.dn", parameters.get("courier.client.subject"), "http.issuer.dn", issuer));
        runner.run();
        return runner.getFlowFilesForRelationship("allowed-certificate").size();
    }

    @Test
    @Order(1)
    void everyProcessorAndServiceIsValidWithTheFlowsProperties() throws Exception {
        final ObjectNode names = JSON.createObjectNode();
        for (final JsonNode processorNode : flow.at("/flowContents/processors")) {
            final Processor processor = instantiate(processorNode, Processor.class);
            final TestRunner runner = runnerFor(processorNode, processor, new HashMap<>());
            runner.assertValid();
            assertNoUnknownProperties(processorNode, processor);
            assertRelationshipsRoutedOrTerminated(processorNode, processor);
            recordNames(names, processorNode.get("type").asText(), processor, processor.getRelationships());
        }
        for (final JsonNode serviceNode : flow.at("/flowContents/controllerServices")) {
            if (serviceNode == cacheServerNode) { // validated and enabled in setUp: a second one could not bind its port
                assertNoUnknownProperties(serviceNode, cacheServer);
                recordNames(names, serviceNode.get("type").asText(), cacheServer, Set.of());
                continue;
            }
            final ControllerService service = instantiate(serviceNode, ControllerService.class);
            final TestRunner runner = TestRunners.newTestRunner(new org.apache.nifi.processors.standard.RouteOnAttribute());
            runner.addControllerService(serviceNode.get("identifier").asText(), service, resolved(serviceNode.get("properties")));
            runner.assertValid(service);
            runner.enableControllerService(service);
            assertNoUnknownProperties(serviceNode, service);
            recordNames(names, serviceNode.get("type").asText(), service, Set.of());
            runner.disableControllerService(service);
        }
        Files.createDirectories(target);
        JSON.writeValue(target.resolve("property-names.json").toFile(), names);
    }

    @Test
    @Order(2)
    void courierClientGetsTheContractAnswersOverMutualTls() throws Exception {
        final ObjectNode results = JSON.createObjectNode();
        final List<String> mismatches = new ArrayList<>();
        // Cases without "client_auth" run with Want Authentication (both modes); "default" ones with the flow's shipped
        // default of courier.client.auth. One harness each, as a changed parameter restarts NiFi's listener.
        final String mode = parameters.get("courier.client.auth");
        try {
            for (final String clientAuth : List.of("", "default")) {
                final ArrayNode group = JSON.createArrayNode();
                for (final JsonNode testCase : JSON.readTree(repo.resolve("nifi/contract-test/cases.json").toFile())) {
                    if (testCase.path("client_auth").asText("").equals(clientAuth)) {
                        group.add(testCase);
                    }
                }
                parameters.put("courier.client.auth", clientAuth.isEmpty() ? mode : defaultOf("courier.client.auth"));
                runCases(group, clientAuth.isEmpty() ? "python-observed.json" : "python-observed-default.json", results, mismatches);
            }
        } finally {
            parameters.put("courier.client.auth", mode);
        }
        JSON.writeValue(target.resolve("contract-results.json").toFile(), results);
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
    }

    /** Posts the cases to a fresh harness; records each case's statuses and kept copies in results, differences in mismatches. */
    private static void runCases(final ArrayNode cases, final String observedName, final ObjectNode results,
                                 final List<String> mismatches) throws Exception {
        final FlowHarness harness = new FlowHarness();
        try {
            harness.start();
            final Path caseFile = target.resolve(observedName.replace(".json", "-cases.json"));
            JSON.writeValue(caseFile.toFile(), cases);
            final Path observed = target.resolve(observedName);
            final String url = "https://127.0.0.1:" + parameters.get("courier.listen.port") + "/contentListener";
            python(List.of("post", url, target.resolve("certs").toString(), caseFile.toString(), observed.toString()));
            harness.drain();

            final JsonNode posted = JSON.readTree(observed.toFile());
            for (final JsonNode testCase : cases) {
                final String name = testCase.get("name").asText();
                final JsonNode observedCase = posted.get(name);
                final int kept = harness.keptCount(observedCase.get("sha256").asText());
                final ObjectNode result = results.putObject(name);
                result.set("status", observedCase.get("status"));
                result.put("kept", kept);
                final List<Integer> expectedStatus = new ArrayList<>();
                for (int i = 0; i < testCase.get("repeat").asInt(); i++) {
                    expectedStatus.add(testCase.get("expect_status").asInt());
                }
                final List<Integer> actualStatus = new ArrayList<>();
                observedCase.get("status").forEach(s -> actualStatus.add(s.asInt()));
                if (!expectedStatus.equals(actualStatus) || kept != testCase.get("expect_kept").asInt()) {
                    mismatches.add(name + ": expected " + expectedStatus + " kept " + testCase.get("expect_kept").asInt()
                            + ", got " + actualStatus + " kept " + kept);
                }
                // HandleHttpResponse writes the FlowFile content as the body: no answer (an error least of all) echoes the
                // bundle. One entry per HTTP answer, the client's retry after a 401/403 included.
                observedCase.get("body_bytes").forEach(size -> {
                    if (size.asInt() != 0) {
                        mismatches.add(name + ": an answer has a body of " + size.asInt() + " bytes (statuses " + actualStatus + ")");
                    }
                });
                for (int i = 0; i < actualStatus.size(); i++) {
                    final String error = observedCase.at("/error").path(i).asText("");
                    // No HTTP answer must mean the handshake was refused on the certificate, not an unreachable listener.
                    if (actualStatus.get(i) == 0 && !"NiFiAuthError".equals(error)) {
                        mismatches.add(name + ": no answer, but courier saw " + error + " (not a refused handshake)");
                    }
                }
                // "Remove credential": the kept copies carry neither the Authorization header attribute nor the token.
                if (testCase.path("expect_credential_kept").isBoolean() && !testCase.get("expect_credential_kept").asBoolean()) {
                    final List<String> carried = harness.keptAttributesCarrying(observedCase.get("sha256").asText(),
                            "(?i)http[.]headers[.]authorization", certs.get("token").asText());
                    if (!carried.isEmpty()) {
                        mismatches.add(name + ": a kept copy carries the credential in " + carried);
                    }
                }
            }
            if (!harness.unrouted.isEmpty()) {
                mismatches.add("FlowFiles left on a relationship the flow neither connects nor terminates: " + harness.unrouted);
            }
        } finally {
            harness.stop();
        }
    }

    @Test
    @Order(3)
    void backPressureOnTheListenersConnectionIsAnswered503() throws Exception {
        final FlowHarness harness = new FlowHarness();
        try {
            harness.start();
            // What NiFi does when the connection after HandleHttpRequest reaches its back-pressure threshold.
            harness.receiver().setRelationshipUnavailable(new Relationship.Builder().name("success").build());
            final JsonNode observed = postOwnCase(singleCase("back-pressure", null));
            assertEquals(503, observed.at("/back-pressure/status/0").asInt());
        } finally {
            harness.stop();
        }
    }

    @Test
    @Order(4)
    void contentEncodingGzipIsStoredAsSentNotDecoded() throws Exception {
        final FlowHarness harness = new FlowHarness();
        try {
            harness.start();
            final JsonNode observed = postOwnCase(singleCase("content-encoding-gzip", "gzip"));
            harness.drain();
            assertEquals(200, observed.at("/content-encoding-gzip/status/0").asInt(), "HandleHttpRequest hashed the gzip bytes as sent");
            assertEquals(1, harness.keptCount(observed.at("/content-encoding-gzip/sha256").asText()), "the kept FlowFile is the bundle as sent");
        } finally {
            harness.stop();
        }
    }

    @Test
    @Order(6)
    void unreachableDuplicateCacheIsAnswered503AndNothingIsKept() throws Exception {
        final FlowHarness harness = new FlowHarness();
        try {
            harness.start();
            cacheServerHost.disableControllerService(cacheServer);
            final JsonNode observed = postOwnCase(singleCase("cache-down", null));
            harness.drain();
            assertEquals(503, observed.at("/cache-down/status/0").asInt(), "DetectDuplicate failure is answered, not dropped");
            assertEquals(0, harness.keptCount(observed.at("/cache-down/sha256").asText()), "nothing acknowledged, nothing kept");
            // The flow's own "Respond 503" answered, with an empty body: not the context map after the request expired
            // (which is what a penalized FlowFile, held back for DetectDuplicate's penalty duration, would get).
            assertEquals(1, harness.terminated("Respond 503", "success"), "answered by the flow, not by the request's expiry");
            assertEquals(0, harness.terminated("Respond 503", "failure"));
            assertEquals(0, observed.at("/cache-down/body_bytes/0").asInt(), "the 503 does not echo the bundle");
        } finally {
            harness.stop();
            cacheServerHost.enableControllerService(cacheServer);
        }
    }

    private static ArrayNode singleCase(final String name, final String contentEncoding) {
        final ArrayNode cases = JSON.createArrayNode();
        addCase(cases, name, "allowed", null, contentEncoding);
        return cases;
    }

    private static void addCase(final ArrayNode cases, final String name, final String clientCert, final String credential,
                                final String contentEncoding) {
        final ObjectNode c = cases.addObject();
        c.put("name", name);
        c.put("client_cert", clientCert);
        c.put("header_credential", credential);
        c.put("body", "bundle");
        c.put("sha_header", "right");
        c.put("header_case", "canonical");
        c.put("repeat", 1);
        if (contentEncoding != null) {
            c.put("content_encoding", contentEncoding);
        }
    }

    private static JsonNode postOwnCase(final ArrayNode cases) throws Exception {
        final String name = cases.get(0).get("name").asText();
        final Path caseFile = target.resolve(name + "-case.json");
        final Path observed = target.resolve(name + "-observed.json");
        JSON.writeValue(caseFile.toFile(), cases);
        final String url = "https://127.0.0.1:" + parameters.get("courier.listen.port") + "/contentListener";
        python(List.of("post", url, target.resolve("certs").toString(), caseFile.toString(), observed.toString()));
        return JSON.readTree(observed.toFile());
    }

    /** One TestRunner per processor, sharing one enabled StandardHttpContextMap; moves FlowFiles along the flow's connections. */
    private static final class FlowHarness {
        private final Map<String, TestRunner> runners = new LinkedHashMap<>();
        private final Map<String, JsonNode> nodes = new HashMap<>();
        private final Set<String> started = new TreeSet<>();
        private final List<MockFlowFile> kept = new ArrayList<>();
        private final List<String> unrouted = new ArrayList<>();
        private final Map<String, Integer> terminatedCounts = new TreeMap<>();
        // Penalized FlowFiles: nifi-mock's session.get() hands them out at once, NiFi holds them back for the
        // source processor's penalty duration. The harness does what NiFi does: enqueued only when that has passed.
        private final List<Delayed> delayed = new ArrayList<>();
        // nifi-mock keeps a FlowFile's penalized flag for good (later copies too); NiFi's penalty expires. Held back once.
        private final Set<String> penaltyServed = new TreeSet<>();
        private final AtomicBoolean running = new AtomicBoolean();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private final Object lock = new Object();
        private String receiverId;
        private Thread pump;

        void start() throws Exception {
            // A fresh port per harness: a stopped listener's port may linger.
            parameters.put("courier.listen.port", String.valueOf(freePort()));
            final Map<String, ControllerService> shared = new HashMap<>();
            for (final JsonNode processorNode : flow.at("/flowContents/processors")) {
                final String id = processorNode.get("identifier").asText();
                final Processor processor = instantiate(processorNode, Processor.class);
                runners.put(id, runnerFor(processorNode, processor, shared));
                nodes.put(id, processorNode);
                if (processorNode.get("type").asText().endsWith(".HandleHttpRequest")) {
                    receiverId = id;
                }
            }
            running.set(true);
            pump = new Thread(this::pumpLoop, "flow-pump");
            pump.setDaemon(true);
            pump.start();
            waitForListener();
        }

        TestRunner receiver() {
            return runners.get(receiverId);
        }

        private void waitForListener() throws Exception {
            final int port = Integer.parseInt(parameters.get("courier.listen.port"));
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline) {
                if (failure.get() != null) {
                    fail("the flow failed to start", failure.get());
                }
                try (java.net.Socket ignored = new java.net.Socket("127.0.0.1", port)) {
                    return;
                } catch (IOException notYet) {
                    Thread.sleep(50);
                }
            }
            fail("HandleHttpRequest did not listen on " + port);
        }

        private void pumpLoop() {
            try {
                while (running.get()) {
                    synchronized (lock) {
                        step();
                    }
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }

        private void trigger(final String id) {
            final TestRunner runner = runners.get(id);
            final boolean first = started.add(id);
            runner.run(1, false, first);
            route(id, runner);
        }

        /** Runs the listener once and every processor with queued FlowFiles until the queues are empty. */
        private void step() {
            trigger(receiverId);
            boolean moved = true;
            while (moved) {
                moved = releaseDelayed();
                for (final String id : runners.keySet()) {
                    if (!id.equals(receiverId) && !runners.get(id).isQueueEmpty()) {
                        trigger(id);
                        moved = true;
                    }
                }
            }
        }

        private void route(final String sourceId, final TestRunner runner) {
            final JsonNode node = nodes.get(sourceId);
            final Set<String> autoTerminated = new TreeSet<>();
            node.get("autoTerminatedRelationships").forEach(r -> autoTerminated.add(r.asText()));
            for (final Relationship relationship : runners.get(sourceId).getProcessor().getRelationships()) {
                final List<MockFlowFile> flowFiles = runner.getFlowFilesForRelationship(relationship);
                if (flowFiles.isEmpty()) {
                    continue;
                }
                boolean connected = false;
                for (final JsonNode connection : flow.at("/flowContents/connections")) {
                    if (!connection.at("/source/id").asText().equals(sourceId)) {
                        continue;
                    }
                    boolean selected = false;
                    for (final JsonNode r : connection.get("selectedRelationships")) {
                        selected |= r.asText().equals(relationship.getName());
                    }
                    if (!selected) {
                        continue;
                    }
                    connected = true;
                    final String destination = connection.at("/destination/id").asText();
                    if (OUTPUT_PORT.equals(connection.at("/destination/type").asText())) {
                        kept.addAll(flowFiles);
                        continue;
                    }
                    // A relationship connected twice gets a copy of each FlowFile in each connection, as in NiFi.
                    for (final MockFlowFile flowFile : flowFiles) {
                        if (flowFile.isPenalized() && penaltyServed.add(flowFile.getAttribute("uuid"))) {
                            final long penalty = millis(node.get("penaltyDuration").asText());
                            delayed.add(new Delayed(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(penalty), destination, flowFile));
                        } else {
                            runners.get(destination).enqueue(flowFile);
                        }
                    }
                }
                if (!connected && autoTerminated.contains(relationship.getName())) {
                    terminatedCounts.merge(node.get("name").asText() + "/" + relationship.getName(), flowFiles.size(), Integer::sum);
                }
                if (!connected && !autoTerminated.contains(relationship.getName())) {
                    unrouted.add(node.get("name").asText() + "/" + relationship.getName());
                }
            }
            runner.clearTransferState();
        }

        private boolean releaseDelayed() {
            final long now = System.nanoTime();
            boolean released = false;
            for (final java.util.Iterator<Delayed> it = delayed.iterator(); it.hasNext(); ) {
                final Delayed held = it.next();
                if (now - held.releaseAt() >= 0) {
                    runners.get(held.destination()).enqueue(held.flowFile());
                    it.remove();
                    released = true;
                }
            }
            return released;
        }

        /** FlowFiles the named processor sent to an auto-terminated relationship (e.g. a responder's "success"). */
        int terminated(final String processor, final String relationship) {
            synchronized (lock) {
                return terminatedCounts.getOrDefault(processor + "/" + relationship, 0);
            }
        }

        /** Waits until every queue is empty and no penalized FlowFile is held back (the client already has all its answers). */
        void drain() throws Exception {
            for (int i = 0; i < 3000; i++) { // up to 30 s on a busy machine
                synchronized (lock) {
                    if (delayed.isEmpty() && runners.values().stream().allMatch(TestRunner::isQueueEmpty)) {
                        return;
                    }
                }
                Thread.sleep(10);
            }
            fail("queues did not drain");
        }

        /** Attributes of the kept copies of these bytes whose name matches nameRegex or whose value holds secret. */
        List<String> keptAttributesCarrying(final String sha256, final String nameRegex, final String secret) {
            synchronized (lock) {
                final List<String> carried = new ArrayList<>();
                for (final MockFlowFile flowFile : kept) {
                    if (!sha256.equals(flowFile.getAttribute("content_SHA-256"))) {
                        continue;
                    }
                    flowFile.getAttributes().forEach((attribute, value) -> {
                        if (attribute.matches(nameRegex) || (value != null && value.contains(secret))) {
                            carried.add(attribute);
                        }
                    });
                }
                return carried;
            }
        }

        int keptCount(final String sha256) {
            synchronized (lock) {
                int count = 0;
                for (final MockFlowFile flowFile : kept) {
                    if (sha256.equals(flowFile.getAttribute("content_SHA-256"))) {
                        assertEquals(sha256, org.apache.commons.codec.digest.DigestUtils.sha256Hex(flowFile.toByteArray()),
                                "the kept FlowFile holds the bundle's exact bytes");
                        count++;
                    }
                }
                return count;
            }
        }

        void stop() throws Exception {
            running.set(false);
            if (pump != null) {
                pump.join(TimeUnit.SECONDS.toMillis(30));
            }
            if (receiverId != null && started.contains(receiverId)) {
                runners.get(receiverId).stop();
            }
            if (failure.get() != null) {
                fail("the flow pump failed", failure.get());
            }
        }
    }

    private record Delayed(long releaseAt, String destination, MockFlowFile flowFile) {
    }

    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|millis|sec|secs|seconds|min|mins|minutes)");

    /** A processor's penalty duration as the flow writes it ("0 sec", "30 sec"), in milliseconds. */
    static long millis(final String duration) {
        final Matcher m = DURATION.matcher(duration.trim());
        assertTrue(m.matches(), "unexpected duration " + duration);
        final long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms", "millis" -> n;
            case "min", "mins", "minutes" -> TimeUnit.MINUTES.toMillis(n);
            default -> TimeUnit.SECONDS.toMillis(n);
        };
    }

    // --- building components from the flow definition -------------------------------------------------------------

    private static <T> T instantiate(final JsonNode node, final Class<T> kind) throws Exception {
        return kind.cast(Class.forName(node.get("type").asText()).getDeclaredConstructor().newInstance());
    }

    private static JsonNode serviceNode(final String id) {
        for (final JsonNode service : flow.at("/flowContents/controllerServices")) {
            if (service.get("identifier").asText().equals(id)) {
                return service;
            }
        }
        return null;
    }

    /** A runner for the processor with exactly the flow's properties; referenced services are added (and shared by id). */
    private static TestRunner runnerFor(final JsonNode processorNode, final Processor processor,
                                        final Map<String, ControllerService> shared) throws Exception {
        final TestRunner runner = TestRunners.newTestRunner(processor);
        final Map<String, String> properties = resolved(processorNode.get("properties"));
        for (final String value : properties.values()) {
            final JsonNode serviceNode = serviceNode(value);
            if (serviceNode == null) {
                continue;
            }
            ControllerService service = shared.get(value);
            if (service == null) {
                service = instantiate(serviceNode, ControllerService.class);
                shared.put(value, service);
            }
            runner.addControllerService(value, service, resolved(serviceNode.get("properties")));
            runner.enableControllerService(service);
        }
        for (final Map.Entry<String, String> property : properties.entrySet()) {
            final ValidationResult result = runner.setProperty(property.getKey(), property.getValue());
            assertTrue(result.isValid(), processorNode.get("name").asText() + ": " + result);
        }
        return runner;
    }

    private static Map<String, String> resolved(final JsonNode properties) {
        final Map<String, String> values = new TreeMap<>();
        properties.fields().forEachRemaining(e -> values.put(e.getKey(), resolveLikeNiFi(e.getValue().asText(), parameters)));
        return values;
    }

    /**
     * Parameter references resolved where NiFi resolves them, so nifi-mock (which knows no parameters) sees what a
     * real NiFi's processors see. NiFi's parameter parser replaces a reference outside Expression Language as text; a
     * reference inside an expression ({@code ${...}}) is left to the expression engine, which evaluates an unquoted
     * {@code #{name}} to the parameter's value (given here as the equivalent quoted literal) and expands nothing
     * inside a quoted string literal: {@code '#{name}'} stays those characters.
     */
    static String resolveLikeNiFi(final String value, final Map<String, String> values) {
        final StringBuilder out = new StringBuilder();
        int depth = 0;
        char quote = 0;
        for (int i = 0; i < value.length(); i++) {
            final char c = value.charAt(i);
            final boolean opens = i + 1 < value.length() && value.charAt(i + 1) == '{';
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < value.length()) {
                    out.append(value.charAt(++i));
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '$' && opens) {
                depth++;
                out.append("${");
                i++;
            } else if (depth > 0 && (c == '\'' || c == '"')) {
                quote = c;
                out.append(c);
            } else if (depth > 0 && c == '}') {
                depth--;
                out.append(c);
            } else if (c == '#' && opens) {
                final int end = value.indexOf('}', i);
                final String name = value.substring(i + 2, end);
                assertTrue(values.containsKey(name), "parameter " + name + " is set by the test");
                final String resolved = values.get(name);
                out.append(depth == 0 ? resolved : "'" + resolved.replace("\\", "\\\\").replace("'", "\\'") + "'");
                i = end;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static String defaultOf(final String parameter) {
        for (final JsonNode p : flow.at("/parameterContexts/courier-receiver/parameters")) {
            if (p.get("name").asText().equals(parameter)) {
                return p.get("value").asText();
            }
        }
        throw new IllegalArgumentException(parameter);
    }

    /** Every property the flow sets is one the component declares (dynamic only where the component supports them). */
    private static void assertNoUnknownProperties(final JsonNode node, final ConfigurableComponent component) {
        final Set<String> supported = new TreeSet<>();
        for (final PropertyDescriptor descriptor : component.getPropertyDescriptors()) {
            supported.add(descriptor.getName());
        }
        node.get("properties").fieldNames().forEachRemaining(name -> {
            if (!supported.contains(name)) {
                final PropertyDescriptor dynamic = component.getPropertyDescriptor(name);
                assertTrue(dynamic.isDynamic() && node.get("type").asText().endsWith(".RouteOnAttribute"),
                        node.get("name").asText() + ": '" + name + "' is not a property of " + node.get("type").asText()
                                + " " + System.getProperty("nifi.version") + " (supported: " + supported + ")");
            }
        });
    }

    private static void assertRelationshipsRoutedOrTerminated(final JsonNode node, final Processor processor) {
        final Set<String> handled = new TreeSet<>();
        node.get("autoTerminatedRelationships").forEach(r -> handled.add(r.asText()));
        for (final JsonNode connection : flow.at("/flowContents/connections")) {
            if (connection.at("/source/id").asText().equals(node.get("identifier").asText())) {
                connection.get("selectedRelationships").forEach(r -> handled.add(r.asText()));
            }
        }
        final Set<String> relationships = new TreeSet<>();
        processor.getRelationships().forEach(r -> relationships.add(r.getName()));
        assertEquals(relationships, handled, node.get("name").asText() + ": every relationship is connected or auto-terminated, and no other");
    }

    private static void recordNames(final ObjectNode names, final String type, final ConfigurableComponent component,
                                    final Set<Relationship> relationships) {
        final ObjectNode entry = names.putObject(type);
        final ArrayNode properties = entry.putArray("properties");
        final ArrayNode sensitive = entry.putArray("sensitive");
        final TreeMap<String, Boolean> sorted = new TreeMap<>();
        component.getPropertyDescriptors().forEach(d -> sorted.put(d.getName(), d.isSensitive()));
        sorted.forEach((name, isSensitive) -> {
            properties.add(name);
            if (isSensitive) {
                sensitive.add(name);
            }
        });
        final ArrayNode relationshipNames = entry.putArray("relationships");
        new TreeSet<>(relationships.stream().map(Relationship::getName).toList()).forEach(relationshipNames::add);
    }

    // --- helpers ----------------------------------------------------------------------------------------------------

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private static void python(final List<String> arguments) throws Exception {
        final List<String> command = new ArrayList<>();
        command.add(System.getProperty("courier.python", "python3"));
        command.add(repo.resolve("nifi/contract-test/post_cases.py").toString());
        command.addAll(arguments);
        final ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("PYTHONPATH", repo.resolve("src").toString());
        final Process process = builder.start();
        final String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(5, TimeUnit.MINUTES), "python timed out");
        assertEquals(0, process.exitValue(), "python " + arguments.get(0) + " failed:\n" + output);
        System.out.print(output);
        assertFalse(output.contains("Traceback"), output);
    }
}
