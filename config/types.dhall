{- kube-observer configuration schema.

   Every part is a `{ Type, default }` record, so a configuration spells out only
   what differs from the defaults, with Dhall's record completion operator `::`:

       let T = ./types.dhall

       in  T.Config::{
           , clusters = [ T.Cluster::{ name = "local" } ]
           , actors = [ T.Actor::{ cluster = "local", resource = "pod" } ]
           }

   The field names are those of core/config/model.ts; an `Optional` here is a
   `null` there. kube-observer re-checks everything after Dhall evaluates the file
   (ranges, known resources, duplicates), so this file only has to get the shape right.

   Imports must be local files or `env:` variables: the agent refuses remote
   (http/https) imports before evaluating a configuration.
-}
let Cluster =
      {- How to reach one cluster. With neither `kubeconfig` nor `inCluster`, the
         usual kubectl resolution applies: $KUBECONFIG, then ~/.kube/config, then
         the in-cluster ServiceAccount.
      -}
      { Type =
          { name : Text
          , kubeconfig : Optional Text
          , context : Optional Text
          , inCluster : Bool
          }
      , default =
        { kubeconfig = None Text, context = None Text, inCluster = False }
      }

let Actor =
      {- One (cluster, namespace, role, resource) to observe. `namespace = "*"`
         means every namespace the cluster has now or later, minus `exclude`;
         cluster-scoped resources (node, namespace, ...) keep the default "*".
         `topology` says how a "*" actor is watched:
           "auto" (the default): one cluster-wide list+watch of the resource,
             `exclude` filtered out (a few sockets whatever the namespace count);
           "cluster": the same, said explicitly;
           "namespace": one list+watch per namespace (thousands of watches on a
             large cluster; for per-namespace least privilege, name the namespaces
             instead, which `kube-observer rbac` grants with Roles).
         An actor that names a namespace is always watched in that namespace.
      -}
      { Type =
          { cluster : Text
          , namespace : Text
          , role : Text
          , resource : Text
          , exclude : List Text
          , topology : Text
          }
      , default =
        { namespace = "*"
        , role = "observer"
        , exclude = [] : List Text
        , topology = "auto"
        }
      }

let Backoff =
      {- Delay between retries after an error: initialMs, multiplied by factor
         per failure up to maxMs, ± jitter (a fraction), back to initialMs after
         resetAfterMs without errors. A server's Retry-After (a 429, a 503) makes
         the delay longer, up to maxRetryAfterMs (5 min): a longer Retry-After
         waits that long. Every delay is at most an hour (3600000 ms).
      -}
      { Type =
          { initialMs : Natural
          , factor : Double
          , maxMs : Natural
          , resetAfterMs : Natural
          , jitter : Double
          , maxRetryAfterMs : Natural
          }
      , default =
        { initialMs = 800
        , factor = 2.0
        , maxMs = 30000
        , resetAfterMs = 120000
        , jitter = 0.2
        , maxRetryAfterMs = 300000
        }
      }

let Observer =
      {- How observers list and watch. Each watch asks the API server for a
         timeout drawn from [watchTimeoutMinSeconds, watchTimeoutMaxSeconds], so
         that thousands of watches do not all reconnect at once. `threads = 0`
         sizes the worker pool from the number of cores.
         Memory bounds: an object (a watch event, or one item of a LIST page) over
         `maxObjectBytes` (8 MiB) is skipped with a warning naming it and counted in
         kube_observer_objects_skipped_total; it is never read whole. A LIST page
         whose objects pass `maxListPageBytes` (64 MiB) is asked again with half the
         page size. At most `maxConcurrentLists` (16) LISTs of one cluster run at
         once (thousands of per-namespace observers starting together).
         Annotations: values of the keys in `withheldAnnotations` (`*` matches any
         run of characters; the default covers the manifest copies of kapp,
         Rancher/Fleet and tools that follow kubectl's last-applied convention) and
         values over `maxAnnotationBytes` (4 KiB) never leave the observer: the key
         stays, the value becomes "<withheld: N bytes>". On Secrets every annotation
         value is withheld. kubectl's last-applied copy is always dropped.
      -}
      { Type =
          { pageSize : Natural
          , watchTimeoutMinSeconds : Natural
          , watchTimeoutMaxSeconds : Natural
          , inactivityMarginSeconds : Natural
          , connectTimeoutSeconds : Natural
          , backoff : Backoff.Type
          , threads : Natural
          , batchMaxMessages : Natural
          , batchMaxDelayMs : Natural
          , maxObjectBytes : Natural
          , maxListPageBytes : Natural
          , maxConcurrentLists : Natural
          , withheldAnnotations : List Text
          , maxAnnotationBytes : Natural
          }
      , default =
        { pageSize = 500
        , watchTimeoutMinSeconds = 290
        , watchTimeoutMaxSeconds = 600
        , inactivityMarginSeconds = 30
        , connectTimeoutSeconds = 10
        , backoff = Backoff.default
        , threads = 0
        , batchMaxMessages = 500
        , batchMaxDelayMs = 50
        , maxObjectBytes = 8388608
        , maxListPageBytes = 67108864
        , maxConcurrentLists = 16
        , withheldAnnotations =
          [ "kapp.k14s.io/original"
          , "kapp.k14s.io/original-diff"
          , "objectset.rio.cattle.io/applied"
          , "*last-applied*"
          ]
        , maxAnnotationBytes = 4096
        }
      }

let Neo4j =
      {- A Neo4j server. `passwordEnv` names the environment variable that holds
         the password: the password itself never goes into a configuration file.
         `database = None Text` uses the server's default database.
         `writerLeaseSeconds`: the agent registers itself in the database as the one
         writer of each cluster it observes, with a heartbeat every third of this;
         a second live agent for the same cluster is refused, and a registration
         whose heartbeat stopped (a killed agent) expires after this many seconds.
      -}
      { Type =
          { uri : Text
          , username : Text
          , passwordEnv : Text
          , database : Optional Text
          , writerLeaseSeconds : Natural
          }
      , default =
        { username = "neo4j"
        , passwordEnv = "NEO4J_PASSWORD"
        , database = None Text
        , writerLeaseSeconds = 30
        }
      }

let Sink =
      {- Where the graph goes: `kind = "sqlite"` (the embedded graph in
         sqlitePath) or `kind = "neo4j"` (then `neo4j` must be `Some ...`).
      -}
      { Type =
          { kind : Text, sqlitePath : Text, neo4j : Optional Neo4j.Type }
      , default =
        { kind = "sqlite"
        , sqlitePath = "./kube-observer-graph.sqlite"
        , neo4j = None Neo4j.Type
        }
      }

let Wal =
      {- The write-ahead log between observers and the sink. Past maxBytes the
         agent stops consuming and relists once the sink has caught up.
      -}
      { Type = { path : Text, maxBytes : Natural }
      , default = { path = "./kube-observer-wal.sqlite", maxBytes = 1073741824 }
      }

let Log =
      -- level: "trace", "debug", "info", "warn", "error" or "fatal".
      { Type = { level : Text }, default = { level = "info" } }

let RbacRule =
      {- One extra RBAC rule for the agent's ServiceAccount, beside the `list` and
         `watch` rules that `kube-observer rbac` derives from the actors. With
         `namespace = None Text` it goes into the ClusterRole; with `Some "team-a"`
         into a Role in that namespace. `nonResourceURLs` rules (e.g. "/metrics")
         are cluster-wide and take no apiGroups or resources.
      -}
      { Type =
          { apiGroups : List Text
          , resources : List Text
          , verbs : List Text
          , resourceNames : List Text
          , nonResourceURLs : List Text
          , namespace : Optional Text
          }
      , default =
        { apiGroups = [] : List Text
        , resources = [] : List Text
        , resourceNames = [] : List Text
        , nonResourceURLs = [] : List Text
        , namespace = None Text
        }
      }

let Rbac =
      {- What `kube-observer rbac` generates besides the derived rules: the
         ServiceAccount the agent runs as, its namespace (the ClusterRole, Roles and
         bindings are named after the ServiceAccount), and extra rules an operator
         wants granted too. The agent itself does not read this record.
      -}
      { Type =
          { serviceAccount : Text
          , namespace : Text
          , extraRules : List RbacRule.Type
          }
      , default =
        { serviceAccount = "kube-observer"
        , namespace = "kube-observer"
        , extraRules = [] : List RbacRule.Type
        }
      }

let Audit =
      {- What the audit (`audit`, `run --audit`) checks against.
         `allowedRegistries`: the registry hosts images may come from, as the
         graph names them (e.g. "docker.io", "registry.example.com:5000"); an
         image from any other host is finding KO-IMG-002. Empty: the rule is off.
         `audit --allowed-registry` replaces this list for one run.
      -}
      { Type = { allowedRegistries : List Text }
      , default.allowedRegistries = [] : List Text
      }

let History =
      {- The history of the graph (docs/history.md): every version of every node
         and edge, with when it held, kept in SQLite beside the sink. With the
         embedded graph it is kept in the graph's own file (path = None); with
         Neo4j in a file beside the WAL (the WAL's path with .history.sqlite in
         place of .sqlite), or at `path`. Versions that ended longer ago than
         `retentionDays` (0: kept for ever) are pruned, and the oldest ones
         too while the history takes more than `maxBytes` (0: no limit).
      -}
      { Type =
          { enabled : Bool
          , path : Optional Text
          , retentionDays : Natural
          , maxBytes : Natural
          }
      , default =
        { enabled = False
        , path = None Text
        , retentionDays = 90
        , maxBytes = 2147483648
        }
      }

let Config =
      {- The whole configuration. `clusters` and `actors` have no default;
         relative paths (sqlitePath, wal.path, pluginDirs, kubeconfig) are
         resolved against the agent's working directory. `listen = Some
         "0.0.0.0:8080"` serves /healthz, /readyz and /metrics there (what
         `run --listen` does; the flag wins). `pluginBudgetMs`: how long a
         third-party plugin's toGraph may run on one object before it is
         interrupted and that object's message parked (docs/plugin-guide.md).
         `attackEdges = True` keeps the attack edges (docs/graph-schema.md, "Attack
         edges") in the graph as changes arrive; `verify` then expects them too.
      -}
      { Type =
          { clusters : List Cluster.Type
          , actors : List Actor.Type
          , sink : Sink.Type
          , wal : Wal.Type
          , pluginDirs : List Text
          , observer : Observer.Type
          , log : Log.Type
          , rbac : Rbac.Type
          , listen : Optional Text
          , pluginBudgetMs : Natural
          , attackEdges : Bool
          , audit : Audit.Type
          , history : History.Type
          }
      , default =
        { sink = Sink.default
        , wal = Wal.default
        , pluginDirs = [] : List Text
        , observer = Observer.default
        , log = Log.default
        , rbac = Rbac.default
        , listen = None Text
        , pluginBudgetMs = 1000
        , attackEdges = False
        , audit = Audit.default
        , history = History.default
        }
      }

let everyNamespace
    : Text -> Text -> Actor.Type
    =
      -- Observe `resource` in every namespace of `cluster` (or, for a
      -- cluster-scoped resource, cluster-wide).
      \(cluster : Text) -> \(resource : Text) -> Actor::{ cluster, resource }

let inNamespace
    : Text -> Text -> Text -> Actor.Type
    =
      -- Observe `resource` in one namespace of `cluster`.
      \(cluster : Text) ->
      \(namespace : Text) ->
      \(resource : Text) ->
        Actor::{ cluster, namespace, resource }

let everyNamespaceOf
    : Text -> List Text -> List Actor.Type
    =
      -- One `everyNamespace` actor per resource:
      --   T.everyNamespaceOf "local" [ "pod", "configmap" ]
      \(cluster : Text) ->
      \(resources : List Text) ->
        List/fold
          Text
          resources
          (List Actor.Type)
          ( \(resource : Text) ->
            \(actors : List Actor.Type) ->
              [ everyNamespace cluster resource ] # actors
          )
          ([] : List Actor.Type)

in  { Cluster
    , Actor
    , Backoff
    , Observer
    , Neo4j
    , Sink
    , Wal
    , Log
    , RbacRule
    , Rbac
    , Audit
    , History
    , Config
    , everyNamespace
    , inNamespace
    , everyNamespaceOf
    }
