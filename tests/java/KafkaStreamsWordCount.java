// A Kafka Streams 4.4.0 word count (words-in -> words-out) for
// tests/python/test_kafka_streams.py. Arguments: bootstrap servers, processing.guarantee,
// state dir, seconds to run. Prints "FAILED: <error> | root: <cause>" if a stream thread
// dies, else "RUNNING: <state>" after that many seconds; then closes.
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.*;
import org.apache.kafka.streams.kstream.*;

public class KafkaStreamsWordCount {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "wordcount-" + args[1]);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[1]);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[2]);
        StreamsBuilder b = new StreamsBuilder();
        b.<String, String>stream("words-in")
         .flatMapValues(v -> Arrays.asList(v.toLowerCase().split("\\W+")))
         .groupBy((k, w) -> w).count()
         .toStream().mapValues(Object::toString).to("words-out");
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        KafkaStreams s = new KafkaStreams(b.build(), p);
        CompletableFuture<Throwable> failed = new CompletableFuture<>();
        s.setUncaughtExceptionHandler(e -> { failed.complete(e); return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT; });
        s.start();
        try {
            Throwable e = failed.get(Long.parseLong(args[3]), TimeUnit.SECONDS);
            Throwable root = e; while (root.getCause() != null) root = root.getCause();
            System.out.println("FAILED: " + e + " | root: " + root);
        } catch (TimeoutException t) {
            System.out.println("RUNNING: " + s.state());
        }
        s.close(java.time.Duration.ofSeconds(10));
    }
}
