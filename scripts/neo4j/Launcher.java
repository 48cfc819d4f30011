// A Neo4j Community server for tests: embedded database with Bolt on 127.0.0.1 and
// authentication on. Run with `java -cp "<jars>/*" Launcher.java DATA_DIR PORT`, the
// password of user neo4j in $NEO4J_PASSWORD (not on the command line, where ps shows it).
// Prints "NEO4J READY bolt://127.0.0.1:PORT" once the database is available, then blocks
// until killed (SIGTERM shuts the database down cleanly).
import java.nio.file.Path;
import java.time.Duration;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

public class Launcher {
  public static void main(String[] args) throws Exception {
    String password = System.getenv("NEO4J_PASSWORD");
    if (args.length != 2 || password == null || password.isEmpty()) {
      System.err.println("usage: NEO4J_PASSWORD=... Launcher DATA_DIR PORT");
      System.exit(2);
    }
    Path home = Path.of(args[0]);
    int port = Integer.parseInt(args[1]);

    DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
        .setConfig(BoltConnector.enabled, true)
        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
        .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
        .setConfig(HttpConnector.enabled, false)
        .setConfig(GraphDatabaseSettings.auth_enabled, true)
        .setConfig(GraphDatabaseSettings.initial_default_database, "neo4j")
        .build();
    Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));

    GraphDatabaseService db = dbms.database("neo4j");
    if (!db.isAvailable(Duration.ofMinutes(3).toMillis())) {
      System.err.println("NEO4J FAILED database neo4j did not become available");
      System.exit(1);
    }
    // The initial password of the built-in user; the system database owns users.
    // On a restart over the same data directory the password is already set, and
    // Neo4j refuses to "change" it to itself.
    GraphDatabaseService system = dbms.database("system");
    try {
      system.executeTransactionally(
          "ALTER USER neo4j IF EXISTS SET PASSWORD $pw CHANGE NOT REQUIRED",
          java.util.Map.of("pw", password));
    } catch (RuntimeException e) {
      if (!String.valueOf(e.getMessage()).contains("cannot be the same")) throw e;
    }
    System.out.println("NEO4J READY bolt://127.0.0.1:" + port);
    System.out.flush();
    Thread.currentThread().join();
  }
}
