// Readiness probe for scripts/kafka.sh: succeeds once the broker at the given address answers a
// metadata request (describeCluster + listTopics) with itself registered and a controller elected,
// and then warms the coordinators up: it looks up a consumer group's offsets (which creates
// __consumer_offsets and waits until it is loaded) and initialises a transactional producer (which
// creates __transaction_state and allocates producer ids). Without that, the first group or
// idempotent producer of a test meets "coordinator not available / loading" and retries.
// Launched as a single-file program (`java -cp '.cache/kafka/lib/*' scripts/kafka/Probe.java ...`),
// so it needs nothing but the jars the script already fetched.
// Usage: Probe <host:port> <timeout-seconds>
import java.time.Duration;
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class Probe {
  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "telltale-kafka-probe");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    String last = "no answer";
    try (Admin admin = Admin.create(props)) {
      while (System.nanoTime() < deadline) {
        try {
          DescribeClusterResult cluster = admin.describeCluster();
          Collection<Node> nodes = cluster.nodes().get(5, TimeUnit.SECONDS);
          Node controller = cluster.controller().get(5, TimeUnit.SECONDS);
          String clusterId = cluster.clusterId().get(5, TimeUnit.SECONDS);
          admin.listTopics().names().get(5, TimeUnit.SECONDS);
          if (!nodes.isEmpty() && controller != null && !controller.isEmpty()) {
            warmUp(admin, bootstrap, deadline);
            System.out.println("ready: cluster " + clusterId + ", " + nodes.size() + " broker(s), "
                + "group and transaction coordinators up");
            return;
          }
          last = "metadata answered without a registered broker and controller yet";
        } catch (Exception e) {
          last = describe(e);
        }
        Thread.sleep(250);
      }
    }
    fail("metadata request to " + bootstrap + " did not succeed: " + last);
  }

  static void warmUp(Admin admin, String bootstrap, long deadline) throws Exception {
    String last = "no answer";
    boolean groups = false;
    while (!groups && System.nanoTime() < deadline) {
      try {
        admin.listConsumerGroupOffsets("telltale-warm-up").partitionsToOffsetAndMetadata().get(5, TimeUnit.SECONDS);
        groups = true;
      } catch (Exception e) {
        last = describe(e);
        Thread.sleep(250);
      }
    }
    if (!groups) fail("the group coordinator did not come up: " + last);
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "telltale-kafka-probe");
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "telltale-warm-up");
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(Math.max(5000, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()))));
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
      producer.initTransactions();
    } catch (Exception e) {
      fail("the transaction coordinator did not come up: " + describe(e));
    }
  }

  static String describe(Exception e) {
    Throwable cause = e.getCause() != null ? e.getCause() : e;
    return cause.getClass().getSimpleName() + ": " + cause.getMessage();
  }

  static void fail(String message) {
    System.err.println(message);
    System.exit(1);
  }
}
