package dev.creek.peer;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;

/**
 * A minimal sink connector for tests/python/test_connect_rest_peer.py: its tasks read
 * their topics (Connect's `topics`) and drop the records, so that a real Kafka Connect
 * worker has a running sink with active topics and committed offsets.
 */
public class PeerSinkConnector extends SinkConnector {
    static final ConfigDef CONFIG = new ConfigDef()
            .define("flush.size", ConfigDef.Type.INT, 1, ConfigDef.Range.atLeast(1),
                    ConfigDef.Importance.HIGH, "Records per (pretend) file");

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
        return PeerSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> out = new ArrayList<>();
        for (int i = 0; i < maxTasks; i++) {
            out.add(props);
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

    /** Accepts every record; Connect commits the offsets. */
    public static class PeerSinkTask extends SinkTask {
        @Override
        public String version() {
            return "1.0";
        }

        @Override
        public void start(Map<String, String> props) {
        }

        @Override
        public void put(Collection<SinkRecord> records) {
        }

        @Override
        public void stop() {
        }
    }
}
