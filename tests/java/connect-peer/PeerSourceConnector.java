package dev.creek.peer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.source.SourceConnector;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.source.SourceTask;

/**
 * A minimal source connector for tests/python/test_connect_rest_peer.py: each task
 * writes one small record to `topic` every `poll.interval.ms`, with a source offset,
 * so that a real Kafka Connect worker has a running source with active topics and
 * offsets. Built with javac against Apache Kafka's connect-api (the worker's own test
 * connectors are not published in a jar the test can fetch).
 */
public class PeerSourceConnector extends SourceConnector {
    static final ConfigDef CONFIG = new ConfigDef()
            .define("topic", ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE,
                    ConfigDef.Importance.HIGH, "Topic to write to")
            .define("poll.interval.ms", ConfigDef.Type.LONG, 500L,
                    ConfigDef.Importance.LOW, "Time between two records of a task");

    private Map<String, String> props;

    @Override
    public String version() {
        return "1.0";
    }

    @Override
    public void start(Map<String, String> props) {
        new AbstractConfig(CONFIG, props);
        this.props = props;
    }

    @Override
    public Class<? extends Task> taskClass() {
        return PeerSourceTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> out = new ArrayList<>();
        for (int i = 0; i < maxTasks; i++) {
            Map<String, String> c = new HashMap<>(props);
            c.put("task.id", Integer.toString(i));
            out.add(c);
        }
        return out;
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return CONFIG;
    }

    /** One record per interval, offset {"n": count} in partition {"task": id}. */
    public static class PeerSourceTask extends SourceTask {
        private String topic;
        private long interval;
        private Map<String, Object> partition;
        private long n;

        @Override
        public String version() {
            return "1.0";
        }

        @Override
        public void start(Map<String, String> props) {
            AbstractConfig c = new AbstractConfig(CONFIG, props);
            topic = c.getString("topic");
            interval = c.getLong("poll.interval.ms");
            partition = Collections.singletonMap("task", props.getOrDefault("task.id", "0"));
            Map<String, Object> stored = context.offsetStorageReader().offset(partition);
            n = stored == null ? 0 : ((Number) stored.get("n")).longValue();
        }

        @Override
        public List<SourceRecord> poll() throws InterruptedException {
            Thread.sleep(interval);
            n++;
            return Collections.singletonList(new SourceRecord(partition,
                    Collections.singletonMap("n", n), topic, null, Schema.STRING_SCHEMA,
                    "record " + n));
        }

        @Override
        public void stop() {
        }
    }
}
