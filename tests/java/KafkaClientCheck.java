import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Drives the Apache Kafka Java client (kafka-clients 4.x) against a creek broker.
 *
 * <p>Usage: {@code java -cp <jars>:<classes> KafkaClientCheck <bootstrap> <scenario>}, where
 * scenario is one of: admin, produce, compression, group, rebalance, static, offsets,
 * consumer-protocol, all. Exits 0 when every check
 * passed; otherwise prints {@code FAIL: <what>} (with the stack trace) and exits 1.
 *
 * <p>No build tool: tests/python/test_java_client.py compiles this file with javac against the jars
 * of scripts/fetch-java-clients.sh.
 */
public final class KafkaClientCheck {
    static final int PARTITIONS = 4;
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final String bootstrap;

    KafkaClientCheck(String bootstrap) {
        this.bootstrap = bootstrap;
    }

    /** A failed check: the message says what was expected and what came back. */
    static final class CheckFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CheckFailed(String message) {
            super(message);
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new CheckFailed(what);
        }
    }

    static void checkEq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new CheckFailed(what + ": expected " + expected + ", got " + actual);
        }
    }

    static void log(String fmt, Object... args) {
        System.out.println(String.format(fmt, args));
        System.out.flush();
    }

    /** Waits for {@code cond}; {@code what} is evaluated on timeout, so it can show the current state. */
    static void waitFor(BooleanSupplier cond, Duration timeout, Supplier<String> what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new CheckFailed("timed out after " + timeout.toSeconds() + "s waiting for " + what.get());
            }
            Thread.sleep(50);
        }
    }

    // ---------------------------------------------------------------- clients

    Admin newAdmin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "java-check-admin");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        return Admin.create(p);
    }

    KafkaProducer<String, String> producer(String compression) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "java-check-producer");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    KafkaConsumer<String, String> consumer(String group, String clientId) {
        return consumer(group, clientId, Map.of());
    }

    KafkaConsumer<String, String> consumer(String group, String clientId, Map<String, Object> overrides) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            // creek implements the classic JoinGroup/SyncGroup protocol, not KIP-848.
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000);
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
            p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 60000);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 200);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.putAll(overrides);
        return new KafkaConsumer<>(p);
    }

    void createTopic(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    }

    static <T> T get(Future<T> f, String what) throws Exception {
        try {
            return f.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new CheckFailed(what + " failed: " + e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new CheckFailed(what + " did not complete in " + TIMEOUT.toSeconds() + "s");
        }
    }

    /**
     * Sends {@code count} keyed records ("k" + i % 17 -> "v" + i) and checks every send's metadata:
     * the topic, a partition in range, an offset, and that a key always lands on one partition.
     * Returns the metadata by record index.
     */
    List<RecordMetadata> sendKeyed(KafkaProducer<String, String> producer, String topic, int from, int count)
            throws Exception {
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            var record = new ProducerRecord<>(topic, "k" + (i % 17), "v" + i);
            record.headers().add("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
            futures.add(producer.send(record));
        }
        producer.flush();
        List<RecordMetadata> metas = new ArrayList<>();
        Map<String, Integer> partitionOfKey = new HashMap<>();
        for (int i = 0; i < futures.size(); i++) {
            RecordMetadata m = get(futures.get(i), "send of record " + (from + i));
            checkEq(topic, m.topic(), "record " + (from + i) + " topic");
            check(m.partition() >= 0 && m.partition() < PARTITIONS,
                    "record " + (from + i) + " partition " + m.partition() + " out of range");
            check(m.hasOffset() && m.offset() >= 0, "record " + (from + i) + " has no offset: " + m);
            check(m.hasTimestamp() && m.timestamp() > 0, "record " + (from + i) + " has no timestamp");
            String key = "k" + ((from + i) % 17);
            Integer prev = partitionOfKey.putIfAbsent(key, m.partition());
            check(prev == null || prev == m.partition(),
                    "key " + key + " went to partitions " + prev + " and " + m.partition());
            metas.add(m);
        }
        return metas;
    }

    // ---------------------------------------------------------------- scenarios

    /** CreateTopics, ListTopics (Metadata), DescribeTopics, DescribeCluster, CreatePartitions, configs. */
    void admin() throws Exception {
        String topic = "java-admin";
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
            log("created %s with %d partitions", topic, PARTITIONS);
            try {
                createTopic(admin, topic, PARTITIONS);
                throw new CheckFailed("creating " + topic + " twice succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof TopicExistsException,
                        "second createTopics: expected TopicExistsException, got " + e.getCause());
            }

            Set<String> names = get(admin.listTopics().names(), "listTopics");
            check(names.contains(topic), "listTopics " + names + " lacks " + topic);
            log("listTopics: %s", names);

            TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames(), "describeTopics")
                    .get(topic);
            checkEq(topic, d.name(), "described topic name");
            checkEq(PARTITIONS, d.partitions().size(), "described partition count");
            check(!d.isInternal(), topic + " described as internal");
            check(d.topicId() != null && !d.topicId().equals(org.apache.kafka.common.Uuid.ZERO_UUID),
                    "described topic has no topic id");
            for (TopicPartitionInfo p : d.partitions()) {
                check(p.leader() != null && !p.leader().isEmpty(), "partition " + p.partition() + " has no leader");
                checkEq(1, p.replicas().size(), "partition " + p.partition() + " replicas");
                checkEq(1, p.isr().size(), "partition " + p.partition() + " isr");
            }
            log("describeTopics: %s id=%s partitions=%d", d.name(), d.topicId(), d.partitions().size());

            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = get(cluster.nodes(), "describeCluster nodes");
            String clusterId = get(cluster.clusterId(), "describeCluster clusterId");
            Node controller = get(cluster.controller(), "describeCluster controller");
            checkEq(1, nodes.size(), "cluster size");
            check(clusterId != null && !clusterId.isEmpty(), "cluster id is empty");
            check(controller != null && !controller.isEmpty(), "no controller");
            Node node = nodes.iterator().next();
            String[] hp = bootstrap.split(":");
            checkEq(Integer.parseInt(hp[hp.length - 1]), node.port(), "advertised port");
            log("describeCluster: id=%s nodes=%s controller=%s", clusterId, nodes, controller);

            get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(PARTITIONS + 2))).all(),
                    "createPartitions");
            d = get(admin.describeTopics(List.of(topic)).allTopicNames(), "describeTopics after grow").get(topic);
            checkEq(PARTITIONS + 2, d.partitions().size(), "partition count after createPartitions");
            log("createPartitions: now %d partitions", d.partitions().size());

            var resource = new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, topic);
            var config = get(admin.describeConfigs(List.of(resource)).all(), "describeConfigs").get(resource);
            check(config.get("retention.ms") != null, "describeConfigs lacks retention.ms: " + config);
            log("describeConfigs: retention.ms=%s", config.get("retention.ms").value());

            get(admin.deleteTopics(List.of(topic)).all(), "deleteTopics");
            waitFor(() -> {
                try {
                    return !admin.listTopics().names().get().contains(topic);
                } catch (Exception e) {
                    return false;
                }
            }, TIMEOUT, () -> topic + " to disappear after deleteTopics");
            log("deleteTopics: %s gone", topic);
        }
    }

    /** An idempotent producer (acks=all): every send acknowledged, offsets dense per partition. */
    void produce() throws Exception {
        String topic = "java-produce";
        int n = 2000;
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
        }
        List<RecordMetadata> metas;
        try (KafkaProducer<String, String> producer = producer("none")) {
            metas = sendKeyed(producer, topic, 0, n);
        }
        Map<Integer, TreeSet<Long>> offsets = new TreeMap<>();
        for (RecordMetadata m : metas) {
            check(offsets.computeIfAbsent(m.partition(), k -> new TreeSet<>()).add(m.offset()),
                    "offset " + m.offset() + " of partition " + m.partition() + " acknowledged twice");
        }
        check(offsets.size() > 1, "all keys went to one partition: " + offsets.keySet());
        for (var e : offsets.entrySet()) {
            TreeSet<Long> s = e.getValue();
            checkEq(0L, s.first(), "first offset of partition " + e.getKey());
            checkEq((long) s.size() - 1, s.last(), "offsets of partition " + e.getKey() + " are not dense");
        }
        log("produced %d records, per partition: %s", n, summarize(offsets));

        // Read them all back with an assigned (group-less) consumer.
        Map<String, String> seen = new HashMap<>();
        try (KafkaConsumer<String, String> c = consumer(null, "java-check-reader")) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                tps.add(new TopicPartition(topic, p));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (seen.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    check(seen.put(r.value(), r.key()) == null, "record " + r.value() + " read twice");
                    RecordMetadata m = metas.get(Integer.parseInt(r.value().substring(1)));
                    checkEq(m.partition(), r.partition(), "partition of " + r.value());
                    checkEq(m.offset(), r.offset(), "offset of " + r.value());
                    checkEq(m.timestamp(), r.timestamp(), "timestamp of " + r.value());
                    var h = r.headers().lastHeader("index");
                    check(h != null && new String(h.value(), StandardCharsets.UTF_8).equals(r.value().substring(1)),
                            "header 'index' of " + r.value() + ": " + r.headers());
                }
            }
        }
        checkEq(n, seen.size(), "records read back");
        log("read back %d records at the acknowledged partitions, offsets and timestamps, with headers", seen.size());

        // A group consumer subscribed by pattern (Metadata for all topics, matched by the client).
        Member byPattern = new Member("java-pattern", "java-pattern-g", topic) {
            @Override
            void subscribe(ConsumerRebalanceListener listener) {
                consumer.subscribe(Pattern.compile("java-prod.*"), listener);
            }
        }.start();
        try {
            waitFor(() -> byPattern.count() >= n, TIMEOUT,
                    () -> n + " records for the pattern subscriber (got " + byPattern.count() + ")");
            checkExactlyOnce(metas, List.of(byPattern));
        } finally {
            byPattern.close();
        }
        byPattern.rethrow();
        log("a pattern subscription (java-prod.*) got all %d records", n);

        // Producing to a topic that does not exist creates it (auto.create.topics.enable).
        try (KafkaProducer<String, String> producer = producer("none")) {
            RecordMetadata m = get(producer.send(new ProducerRecord<>("java-auto-created", "k", "v")),
                    "send to a new topic");
            checkEq("java-auto-created", m.topic(), "auto-created topic");
            checkEq(0L, m.offset(), "first offset in the auto-created topic");
        }
        log("producing to java-auto-created created it");
    }

    /** Every compression codec round-trips (the batch is stored as sent, the consumer decompresses). */
    void compression() throws Exception {
        try (Admin admin = newAdmin()) {
            for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
                String topic = "java-compression-" + codec;
                createTopic(admin, topic, PARTITIONS);
                int n = 300;
                try (KafkaProducer<String, String> producer = producer(codec)) {
                    sendKeyed(producer, topic, 0, n);
                }
                Set<String> seen = new HashSet<>();
                try (KafkaConsumer<String, String> c = consumer(null, "java-check-" + codec)) {
                    List<TopicPartition> tps = new ArrayList<>();
                    for (int p = 0; p < PARTITIONS; p++) {
                        tps.add(new TopicPartition(topic, p));
                    }
                    c.assign(tps);
                    long deadline = System.nanoTime() + TIMEOUT.toNanos();
                    while (seen.size() < n && System.nanoTime() < deadline) {
                        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                            check(seen.add(r.value()), codec + ": record " + r.value() + " read twice");
                        }
                    }
                }
                checkEq(n, seen.size(), codec + ": records read back");
                log("%s: %d records round-tripped", codec, n);
            }
        }
    }

    /**
     * One group member on its own thread (a KafkaConsumer is single-threaded). It records every
     * record it gets (and fails on one outside its assignment), its assignment as the rebalance
     * listener reports it, and the partitions revoked from it. With {@code commitOnRevoke} it commits
     * its positions before giving partitions up, so nothing is consumed twice across rebalances.
     */
    class Member implements Runnable {
        final String name;
        final String topic;
        final boolean commitOnRevoke;
        final KafkaConsumer<String, String> consumer;
        final Map<TopicPartition, List<Long>> seen = new ConcurrentHashMap<>();
        final AtomicReference<Set<TopicPartition>> assignment = new AtomicReference<>(Set.of());
        final List<Set<TopicPartition>> revocations = Collections.synchronizedList(new ArrayList<>());
        final AtomicReference<Throwable> error = new AtomicReference<>();
        volatile boolean stop;
        volatile boolean leaveOnClose = true;
        volatile CountDownLatch commitRequest;
        volatile Map<TopicPartition, OffsetAndMetadata> committed;
        Thread thread;

        Member(String name, String group, String topic) {
            this(name, group, topic, Map.of(), false);
        }

        Member(String name, String group, String topic, Map<String, Object> overrides, boolean commitOnRevoke) {
            this.name = name;
            this.topic = topic;
            this.commitOnRevoke = commitOnRevoke;
            this.consumer = consumer(group, name, overrides);
        }

        Member start() {
            thread = new Thread(this, name);
            thread.start();
            return this;
        }

        @Override
        public void run() {
            try {
                subscribe(new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        if (partitions.isEmpty()) {
                            return;
                        }
                        if (commitOnRevoke) {
                            consumer.commitSync(TIMEOUT);
                        }
                        revocations.add(Set.copyOf(partitions));
                        Set<TopicPartition> left = new HashSet<>(assignment.get());
                        left.removeAll(partitions);
                        assignment.set(Set.copyOf(left));
                    }

                    @Override
                    public void onPartitionsLost(Collection<TopicPartition> partitions) {
                        error.compareAndSet(null, new CheckFailed(name + " lost partitions " + partitions
                                + " (its membership was fenced or expired)"));
                        Set<TopicPartition> left = new HashSet<>(assignment.get());
                        left.removeAll(partitions);
                        assignment.set(Set.copyOf(left));
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        assignment.set(Set.copyOf(consumer.assignment()));
                    }
                });
                while (!stop) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                        if (!assignment.get().contains(tp)) {
                            throw new CheckFailed(name + " got " + tp + " outside its assignment " + assignment.get());
                        }
                        seen.computeIfAbsent(tp, k -> Collections.synchronizedList(new ArrayList<>()))
                                .add(r.offset());
                    }
                    CountDownLatch req = commitRequest;
                    if (req != null) {
                        consumer.commitSync(TIMEOUT);
                        committed = consumer.committed(consumer.assignment(), TIMEOUT);
                        commitRequest = null;
                        req.countDown();
                    }
                }
            } catch (Throwable t) {
                error.compareAndSet(null, t);
            } finally {
                try {
                    var options = org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(10));
                    if (!leaveOnClose) {
                        options = options.withGroupMembershipOperation(
                                org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP);
                    }
                    consumer.close(options);
                } catch (Throwable t) {
                    error.compareAndSet(null, t);
                }
            }
        }

        void subscribe(ConsumerRebalanceListener listener) {
            consumer.subscribe(List.of(topic), listener);
        }

        int count() {
            return seen.values().stream().mapToInt(List::size).sum();
        }

        void rethrow() {
            Throwable t = error.get();
            if (t != null) {
                throw new CheckFailed(name + " failed: " + t);
            }
        }

        /** commitSync on the member's thread; then {@code committed} holds what the group has. */
        void commit() throws InterruptedException {
            CountDownLatch done = new CountDownLatch(1);
            commitRequest = done;
            check(done.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS) || error.get() != null, name + " commitSync timed out");
            rethrow();
        }

        /** Stops polling, closes the consumer (leaving the group unless told not to) and waits. */
        void close() throws InterruptedException {
            stop = true;
            if (thread == null) {
                consumer.close();
                return;
            }
            thread.join(30000);
            check(!thread.isAlive(), name + " did not close in 30s");
        }
    }

    /** Sends keyed records in the background until stopped; keeps every acknowledgement. */
    final class BackgroundProducer implements Runnable {
        final String topic;
        final List<RecordMetadata> acked = Collections.synchronizedList(new ArrayList<>());
        final AtomicReference<Throwable> error = new AtomicReference<>();
        Thread thread;
        volatile boolean stop;

        BackgroundProducer(String topic) {
            this.topic = topic;
        }

        BackgroundProducer start() {
            thread = new Thread(this, "java-check-background-producer");
            thread.start();
            return this;
        }

        @Override
        public void run() {
            try (KafkaProducer<String, String> producer = producer("none")) {
                int i = 0;
                while (!stop) {
                    acked.addAll(sendKeyed(producer, topic, i, 10));
                    i += 10;
                    Thread.sleep(20);
                }
            } catch (Throwable t) {
                error.compareAndSet(null, t);
            }
        }

        List<RecordMetadata> finish() throws InterruptedException {
            stop = true;
            thread.join(60000);
            Throwable t = error.get();
            if (t != null) {
                throw new CheckFailed("background producer failed: " + t);
            }
            return new ArrayList<>(acked);
        }
    }

    /** Every acknowledged record was consumed by exactly one of the members, nothing else was. */
    static void checkExactlyOnce(List<RecordMetadata> acked, List<Member> members) {
        checkExactlyOnce(acked, members, Set.of());
    }

    /** As above, but a record first consumed by one of {@code mayRepeat} may be consumed again. */
    static void checkExactlyOnce(List<RecordMetadata> acked, List<Member> members, Set<String> mayRepeat) {
        Map<String, String> consumedBy = new HashMap<>();
        for (Member m : members) {
            m.rethrow();
            for (var e : m.seen.entrySet()) {
                synchronized (e.getValue()) {
                    for (long off : e.getValue()) {
                        String prev = consumedBy.put(e.getKey() + "@" + off, m.name);
                        check(prev == null || mayRepeat.contains(prev) || mayRepeat.contains(m.name),
                                e.getKey() + "@" + off + " consumed twice (by " + prev + " and " + m.name + ")");
                    }
                }
            }
        }
        for (RecordMetadata r : acked) {
            check(consumedBy.containsKey(r.topic() + "-" + r.partition() + "@" + r.offset()),
                    r.topic() + "-" + r.partition() + "@" + r.offset() + " never consumed");
        }
        checkEq(acked.size(), consumedBy.size(), "records consumed");
    }

    static int total(List<Member> members) {
        return members.stream().mapToInt(Member::count).sum();
    }

    /** Waits until the members' assignments are disjoint, cover the topic and have these sizes. */
    static void waitForAssignment(String topic, List<Member> members, List<Integer> sizes) throws InterruptedException {
        waitFor(() -> {
            Set<TopicPartition> union = new HashSet<>();
            for (int i = 0; i < members.size(); i++) {
                members.get(i).rethrow();
                Set<TopicPartition> s = members.get(i).assignment.get();
                if (s.size() != sizes.get(i)) {
                    return false;
                }
                union.addAll(s);
            }
            return union.size() == PARTITIONS;
        }, Duration.ofSeconds(60), () -> {
            StringBuilder sb = new StringBuilder("assignment sizes " + sizes + " over " + PARTITIONS + " partitions of "
                    + topic + "; have:");
            for (Member m : members) {
                sb.append(' ').append(m.name).append('=').append(sorted(m.assignment.get()));
            }
            return sb.toString();
        });
    }

    /**
     * Two consumers in one group split the partitions; every record is seen exactly once; commitSync;
     * a new consumer of the group resumes from the committed offsets; the group as the Admin client
     * sees it (describe, list, offsets, alter offsets, delete).
     */
    void group() throws Exception {
        String topic = "java-group";
        String group = "java-group-g";
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
        }
        Member a = new Member("java-member-a", group, topic).start();
        Member b = new Member("java-member-b", group, topic).start();
        List<Member> ab = List.of(a, b);
        try {
            waitForAssignment(topic, ab, List.of(PARTITIONS / 2, PARTITIONS / 2));
            log("assignment: a=%s b=%s", sorted(a.assignment.get()), sorted(b.assignment.get()));

            try (Admin admin = newAdmin()) {
                var d = get(admin.describeConsumerGroups(List.of(group)).all(), "describeConsumerGroups").get(group);
                checkEq(org.apache.kafka.common.GroupState.STABLE, d.groupState(), "state of the active group");
                checkEq(2, d.members().size(), "members of the active group");
                Set<TopicPartition> described = new HashSet<>();
                for (var m : d.members()) {
                    checkEq(PARTITIONS / 2, m.assignment().topicPartitions().size(),
                            "described assignment of " + m.consumerId());
                    described.addAll(m.assignment().topicPartitions());
                }
                checkEq(PARTITIONS, described.size(), "partitions in the described assignments");
                log("describeConsumerGroups: %s %s assignor=%s members=%d", group, d.groupState(),
                        d.partitionAssignor(), d.members().size());
            }

            int n = 1000;
            List<RecordMetadata> metas;
            try (KafkaProducer<String, String> producer = producer("none")) {
                metas = sendKeyed(producer, topic, 0, n);
            }
            waitFor(() -> total(ab) >= n, TIMEOUT,
                    () -> n + " records to be consumed (a=" + a.count() + " b=" + b.count() + ")");
            Thread.sleep(1500); // anything extra (a duplicate) would arrive by now
            checkExactlyOnce(metas, ab);
            check(a.count() > 0 && b.count() > 0, "one member consumed nothing: a=" + a.count() + " b=" + b.count());
            log("consumed %d records exactly once: a=%d b=%d", n, a.count(), b.count());

            // commitSync in each member, then check what the group has committed.
            Map<TopicPartition, Long> ends = new HashMap<>();
            for (RecordMetadata m : metas) {
                ends.merge(new TopicPartition(m.topic(), m.partition()), m.offset() + 1, Math::max);
            }
            for (Member m : ab) {
                m.commit();
                for (var e : m.committed.entrySet()) {
                    long expected = ends.getOrDefault(e.getKey(), 0L);
                    if (expected > 0) {
                        check(e.getValue() != null, m.name + ": no committed offset for " + e.getKey());
                        checkEq(expected, e.getValue().offset(), m.name + ": committed offset of " + e.getKey());
                    }
                }
            }
            log("committed: %s", new TreeMap<>(stringKeys(ends)));
        } finally {
            a.close();
            b.close();
        }
        a.rethrow();
        b.rethrow();

        // More records, then a new member of the group must start at the committed offsets.
        int more = 200;
        List<RecordMetadata> later;
        try (KafkaProducer<String, String> producer = producer("none")) {
            later = sendKeyed(producer, topic, 1000, more);
        }
        Member c = new Member("java-member-c", group, topic).start();
        try {
            waitFor(() -> {
                c.rethrow();
                return c.count() >= more;
            }, Duration.ofSeconds(60), () -> more + " new records for the resumed consumer (got " + c.count() + ")");
            Thread.sleep(1000);
            checkExactlyOnce(later, List.of(c));
            checkEq(PARTITIONS, c.assignment.get().size(), "resumed consumer's assignment");
            c.commit();
            log("resumed consumer got exactly the %d new records", more);
        } finally {
            c.close();
        }
        c.rethrow();

        try (Admin admin = newAdmin()) {
            var offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(),
                    "listConsumerGroupOffsets");
            Map<TopicPartition, Long> ends = new HashMap<>();
            for (RecordMetadata m : later) {
                ends.merge(new TopicPartition(m.topic(), m.partition()), m.offset() + 1, Math::max);
            }
            for (var e : ends.entrySet()) {
                check(offsets.get(e.getKey()) != null, "listConsumerGroupOffsets lacks " + e.getKey());
                checkEq(e.getValue(), offsets.get(e.getKey()).offset(), "committed offset of " + e.getKey());
            }
            log("listConsumerGroupOffsets: %s", new TreeMap<>(stringKeys(offsets)));

            var groups = get(admin.listGroups().all(), "listGroups");
            check(groups.stream().anyMatch(g -> g.groupId().equals(group)), "listGroups lacks " + group + ": " + groups);
            var d = get(admin.describeConsumerGroups(List.of(group)).all(), "describeConsumerGroups").get(group);
            checkEq(org.apache.kafka.common.GroupState.EMPTY, d.groupState(), "state after every member left");
            checkEq(0, d.members().size(), "members after every member left");

            // Reset offsets as kafka-consumer-groups --reset-offsets does (OffsetCommit from the admin).
            TopicPartition p0 = new TopicPartition(topic, 0);
            get(admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(1, "reset"))).all(),
                    "alterConsumerGroupOffsets");
            offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(),
                    "listConsumerGroupOffsets after alter");
            checkEq(1L, offsets.get(p0).offset(), "offset of " + p0 + " after alterConsumerGroupOffsets");
            checkEq("reset", offsets.get(p0).metadata(), "metadata of " + p0 + " after alterConsumerGroupOffsets");

            get(admin.deleteConsumerGroups(List.of(group)).all(), "deleteConsumerGroups");
            offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata(),
                    "listConsumerGroupOffsets after delete");
            check(offsets.values().stream().allMatch(o -> o == null),
                    "offsets remain after deleteConsumerGroups: " + offsets);
            log("alterConsumerGroupOffsets, deleteConsumerGroups ok");
        }
    }

    /**
     * Rebalances under load with the cooperative-sticky assignor: members join and leave while a
     * producer keeps sending; members commit before giving partitions up, so every record is
     * consumed exactly once, and a joining member never makes the others give up everything.
     */
    void rebalance() throws Exception {
        String topic = "java-rebalance";
        String group = "java-rebalance-g";
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
        }
        Map<String, Object> coop = Map.of(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class.getName());
        BackgroundProducer producer = new BackgroundProducer(topic).start();
        Member a = new Member("java-coop-a", group, topic, coop, true).start();
        List<Member> all = new ArrayList<>(List.of(a));
        try {
            waitForAssignment(topic, List.of(a), List.of(4));
            Member b = new Member("java-coop-b", group, topic, coop, true).start();
            all.add(b);
            waitForAssignment(topic, List.of(a, b), List.of(2, 2));
            // Cooperative: a gave up only the two partitions that moved to b.
            checkEq(List.of(2), a.revocations.stream().map(Set::size).toList(), "partitions revoked from a");
            log("a joined, then b: a=%s b=%s", sorted(a.assignment.get()), sorted(b.assignment.get()));

            Member c = new Member("java-coop-c", group, topic, coop, true).start();
            all.add(c);
            waitFor(() -> {
                Set<TopicPartition> union = new HashSet<>();
                for (Member m : List.of(a, b, c)) {
                    m.rethrow();
                    if (m.assignment.get().isEmpty()) {
                        return false;
                    }
                    union.addAll(m.assignment.get());
                }
                return union.size() == PARTITIONS && a.assignment.get().size() + b.assignment.get().size()
                        + c.assignment.get().size() == PARTITIONS;
            }, Duration.ofSeconds(60), () -> "a three-way split: a=" + a.assignment.get() + " b=" + b.assignment.get()
                    + " c=" + c.assignment.get());
            log("c joined: a=%s b=%s c=%s", sorted(a.assignment.get()), sorted(b.assignment.get()),
                    sorted(c.assignment.get()));

            b.close();
            waitForAssignment(topic, List.of(a, c), List.of(2, 2));
            log("b left: a=%s c=%s", sorted(a.assignment.get()), sorted(c.assignment.get()));

            List<RecordMetadata> acked = producer.finish();
            waitFor(() -> total(all) >= acked.size(), TIMEOUT,
                    () -> acked.size() + " records to be consumed (got " + total(all) + ")");
            Thread.sleep(1500);
            checkExactlyOnce(acked, all);
            log("%d records produced during three rebalances, each consumed exactly once (a=%d b=%d c=%d)",
                    acked.size(), a.count(), b.count(), c.count());
        } finally {
            producer.stop = true;
            for (Member m : all) {
                m.close();
            }
        }
        for (Member m : all) {
            m.rethrow();
        }
    }

    /**
     * Static membership (group.instance.id): a member that restarts within its session timeout gets
     * its partitions back without a rebalance of the others; a new instance id does cause one.
     */
    void staticMembership() throws Exception {
        String topic = "java-static";
        String group = "java-static-g";
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
        }
        Map<String, Object> one = Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-1",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000);
        Map<String, Object> two = Map.of(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "instance-2",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 30000);
        Member a = new Member("java-static-a", group, topic, one, true).start();
        Member b = new Member("java-static-b", group, topic, two, true).start();
        List<Member> members = new ArrayList<>(List.of(a, b));
        BackgroundProducer producer = new BackgroundProducer(topic).start();
        try {
            waitForAssignment(topic, List.of(a, b), List.of(2, 2));
            Set<TopicPartition> bHad = b.assignment.get();
            int aRevoked = a.revocations.size(); // a may have had all four before b joined
            log("static members: a=%s b=%s", sorted(a.assignment.get()), sorted(bHad));

            // b restarts as the same instance: it does not leave the group, so nothing rebalances.
            b.leaveOnClose = false;
            b.close();
            b.rethrow();
            Member b2 = new Member("java-static-b2", group, topic, two, true).start();
            members.add(b2);
            waitFor(() -> {
                b2.rethrow();
                return b2.assignment.get().size() == 2;
            }, Duration.ofSeconds(25), () -> "the restarted static member to get its partitions back (has "
                    + b2.assignment.get() + ")");
            checkEq(bHad, b2.assignment.get(), "partitions of the restarted static member");
            checkEq(aRevoked, a.revocations.size(), "revocations of a (the static restart rebalanced)");
            try (Admin admin = newAdmin()) {
                var d = get(admin.describeConsumerGroups(List.of(group)).all(), "describeConsumerGroups").get(group);
                checkEq(2, d.members().size(), "members after the static restart");
                Set<String> instances = new TreeSet<>();
                d.members().forEach(m -> instances.add(m.groupInstanceId().orElse("-")));
                checkEq(Set.of("instance-1", "instance-2"), instances, "described instance ids");
            }
            log("restarted static member got %s back without a rebalance", sorted(b2.assignment.get()));

            // A second process with the same instance id fences the running one.
            Member b3 = new Member("java-static-b3", group, topic, two, true).start();
            members.add(b3);
            waitFor(() -> b2.error.get() != null, TIMEOUT, () -> "the running instance-2 to be fenced");
            check(b2.error.get() instanceof org.apache.kafka.common.errors.FencedInstanceIdException,
                    "the replaced member failed with " + b2.error.get() + ", not FencedInstanceIdException");
            b2.error.set(null);
            b2.close();
            waitFor(() -> {
                b3.rethrow();
                return b3.assignment.get().equals(bHad);
            }, TIMEOUT, () -> "the new instance-2 to take over " + bHad + " (has " + b3.assignment.get() + ")");
            checkEq(aRevoked, a.revocations.size(), "revocations of a (replacing instance-2 rebalanced)");
            log("a second instance-2 fenced the first (FencedInstanceIdException) and took over %s", sorted(bHad));

            // Removing a static member by instance id (LeaveGroup v3+) hands its partitions over.
            b3.leaveOnClose = false;
            b3.close();
            b3.rethrow();
            try (Admin admin = newAdmin()) {
                get(admin.removeMembersFromConsumerGroup(group,
                        new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions(
                                List.of(new org.apache.kafka.clients.admin.MemberToRemove("instance-2")))).all(),
                        "removeMembersFromConsumerGroup");
            }
            waitForAssignment(topic, List.of(a), List.of(4));
            log("removed instance-2 by instance id: a=%s", sorted(a.assignment.get()));

            List<RecordMetadata> acked = producer.finish();
            waitFor(() -> total(members) >= acked.size(), TIMEOUT,
                    () -> acked.size() + " records to be consumed (got " + total(members) + ")");
            Thread.sleep(1500);
            // The fenced member could not commit what it had consumed: its successor
            // may consume that again. Anything else must arrive exactly once.
            checkExactlyOnce(acked, members, Set.of("java-static-b2"));
            log("%d records, each consumed exactly once (but for the fenced member's uncommitted ones)", acked.size());
        } finally {
            producer.stop = true;
            for (Member m : members) {
                m.close();
            }
        }
        for (Member m : members) {
            m.rethrow();
        }
    }

    /**
     * creek implements the classic group protocol only: a KIP-848 consumer (group.protocol=consumer)
     * must fail at once with the client's clear "set group.protocol=classic" error, not hang.
     */
    void consumerProtocol() throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "java-kip848-g");
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of("java-kip848"));
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200));
            }
            throw new CheckFailed("a group.protocol=consumer consumer polled for " + TIMEOUT.toSeconds()
                    + "s without an error");
        } catch (org.apache.kafka.common.errors.UnsupportedVersionException e) {
            check(e.getMessage().contains("group.protocol=classic"), "unexpected message: " + e.getMessage());
            log("group.protocol=consumer is refused: %s", e.getMessage());
        }
    }

    /** offsetsForTimes, beginningOffsets, endOffsets (ListOffsets) and Admin.listOffsets. */
    void offsets() throws Exception {
        String topic = "java-offsets";
        try (Admin admin = newAdmin()) {
            createTopic(admin, topic, PARTITIONS);
        }
        long base = System.currentTimeMillis() - 3_600_000L;
        int n = 100;
        try (KafkaProducer<String, String> producer = producer("none")) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                fs.add(producer.send(new ProducerRecord<>(topic, 0, base + i * 10L, "k", "v" + i)));
            }
            producer.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata m = get(fs.get(i), "send " + i);
                checkEq((long) i, m.offset(), "offset of record " + i);
                checkEq(base + i * 10L, m.timestamp(), "timestamp of record " + i);
            }
        }
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (KafkaConsumer<String, String> c = consumer(null, "java-check-offsets")) {
            c.assign(List.of(p0, p1));
            var begin = c.beginningOffsets(List.of(p0, p1), TIMEOUT);
            var end = c.endOffsets(List.of(p0, p1), TIMEOUT);
            checkEq(0L, begin.get(p0), "beginningOffsets p0");
            checkEq(0L, begin.get(p1), "beginningOffsets p1");
            checkEq((long) n, end.get(p0), "endOffsets p0");
            checkEq(0L, end.get(p1), "endOffsets p1");
            log("beginningOffsets=%s endOffsets=%s", stringKeys(begin), stringKeys(end));

            Map<TopicPartition, OffsetAndTimestamp> ts = c.offsetsForTimes(Map.of(p0, base + 505, p1, base), TIMEOUT);
            OffsetAndTimestamp t0 = ts.get(p0);
            check(t0 != null, "offsetsForTimes(p0, base+505) found nothing");
            checkEq(51L, t0.offset(), "offsetsForTimes(p0, base+505) offset");
            checkEq(base + 510, t0.timestamp(), "offsetsForTimes(p0, base+505) timestamp");
            checkEq(null, ts.get(p1), "offsetsForTimes on an empty partition");
            ts = c.offsetsForTimes(Map.of(p0, base), TIMEOUT);
            checkEq(0L, ts.get(p0).offset(), "offsetsForTimes(p0, base) offset");
            ts = c.offsetsForTimes(Map.of(p0, base + n * 10L), TIMEOUT);
            checkEq(null, ts.get(p0), "offsetsForTimes after the last record");
            log("offsetsForTimes: base+505 -> %s", t0);

            // Seek by time, then read from there.
            c.assign(List.of(p0));
            c.seek(p0, t0.offset());
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (got.size() < n - 51 && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(got::add);
            }
            checkEq(n - 51, got.size(), "records after seeking to offset 51");
            checkEq("v51", got.get(0).value(), "first record after seek");
            checkEq(base + 510, got.get(0).timestamp(), "timestamp of the first record after seek");
        }
        try (Admin admin = newAdmin()) {
            Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
            specs.put(p0, OffsetSpec.latest());
            specs.put(p1, OffsetSpec.earliest());
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> r = get(admin.listOffsets(specs).all(),
                    "Admin.listOffsets");
            checkEq((long) n, r.get(p0).offset(), "Admin.listOffsets latest p0");
            checkEq(0L, r.get(p1).offset(), "Admin.listOffsets earliest p1");
            r = get(admin.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(base + 11))).all(),
                    "Admin.listOffsets forTimestamp");
            checkEq(2L, r.get(p0).offset(), "Admin.listOffsets forTimestamp(base+11) p0");
            log("Admin.listOffsets ok");
        }
    }

    static List<String> sorted(Set<TopicPartition> tps) {
        List<String> out = new ArrayList<>();
        for (TopicPartition tp : tps) {
            out.add(tp.toString());
        }
        Collections.sort(out);
        return out;
    }

    static <V> Map<String, V> stringKeys(Map<TopicPartition, V> m) {
        Map<String, V> out = new TreeMap<>();
        m.forEach((k, v) -> out.put(k.toString(), v));
        return out;
    }

    static String summarize(Map<Integer, TreeSet<Long>> offsets) {
        StringBuilder sb = new StringBuilder();
        offsets.forEach((p, s) -> sb.append(p).append(':').append(s.size()).append(' '));
        return sb.toString().trim();
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: KafkaClientCheck <bootstrap> <admin|produce|compression|group|rebalance|static|offsets|consumer-protocol|all>");
            System.exit(2);
        }
        KafkaClientCheck check = new KafkaClientCheck(args[0]);
        List<String> scenarios = args[1].equals("all")
                ? List.of("admin", "produce", "compression", "group", "rebalance", "static", "offsets", "consumer-protocol")
                : List.of(args[1]);
        int code = 0;
        for (String scenario : scenarios) {
            log("== %s", scenario);
            try {
                switch (scenario) {
                    case "admin" -> check.admin();
                    case "produce" -> check.produce();
                    case "compression" -> check.compression();
                    case "group" -> check.group();
                    case "offsets" -> check.offsets();
                    case "rebalance" -> check.rebalance();
                    case "static" -> check.staticMembership();
                    case "consumer-protocol" -> check.consumerProtocol();
                    default -> {
                        System.err.println("unknown scenario " + scenario);
                        System.exit(2);
                    }
                }
                log("PASS: %s", scenario);
            } catch (Throwable t) {
                System.out.flush();
                System.err.println("FAIL: " + scenario + ": " + t);
                t.printStackTrace();
                code = 1;
                break;
            }
        }
        // Client threads (e.g. a stuck consumer) must not keep the JVM alive.
        System.exit(code);
    }
}
