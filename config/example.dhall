{- An example kube-observer configuration: one cluster, every built-in resource.

   Check it, and see every value it ends up with (defaults included):

       kube-observer config check config/example.dhall
       kube-observer config print config/example.dhall

   Dhall is a typed configuration language: a misspelled field or a value of the
   wrong type is reported with its file, line and column before the agent starts.
   Imports must be local files (./x.dhall, ../x.dhall, /abs/x.dhall, ~/x.dhall) or
   environment variables (env:NAME); remote (http/https) imports are refused.
-}

-- The schema and its defaults. `T.Actor::{ ... }` is record completion: the
-- fields given here, the rest from T.Actor.default.
let T = ./types.dhall

-- Written once, used by every actor below.
let cluster = "local"

in  T.Config::{
    , clusters =
      [ T.Cluster::{
        , name = cluster
          -- No `kubeconfig` and no `inCluster`: the kubectl resolution applies
          -- ($KUBECONFIG, then ~/.kube/config, then the in-cluster ServiceAccount),
          -- so `KUBECONFIG=.dev-env/kubeconfig kube-observer ...` works unchanged.
          -- To pin a file and context instead:
          --   , kubeconfig = Some "/etc/kube-observer/kubeconfig"
          --   , context = Some "production"
          -- Inside the cluster, with the pod's ServiceAccount:
          --   , inCluster = True
        }
      ]
    , actors =
      {- One actor per (cluster, namespace, resource). `resource` names a
         resource plugin. The default namespace "*" means every namespace, including
         ones created later; skip some with `exclude = [ "kube-system" ]`, or name a
         single namespace with `namespace = "team-a"` (not both "*" and a namespace
         for the same resource, unless "*" excludes it: that would observe it twice).
      -}
      [ T.Actor::{ cluster, resource = "pod" }
      , T.Actor::{ cluster, resource = "configmap" }
      , T.Actor::{ cluster, resource = "secret" }
      , T.Actor::{ cluster, resource = "serviceaccount" }
      , T.Actor::{ cluster, resource = "persistentvolumeclaim" }
        -- Workloads: who owns a pod, and what a workload's pod template would use.
      , T.Actor::{ cluster, resource = "deployment" }
      , T.Actor::{ cluster, resource = "replicaset" }
      , T.Actor::{ cluster, resource = "statefulset" }
      , T.Actor::{ cluster, resource = "daemonset" }
      , T.Actor::{ cluster, resource = "job" }
      , T.Actor::{ cluster, resource = "cronjob" }
        -- Traffic: the pods a Service selects, the Services an Ingress routes to.
      , T.Actor::{ cluster, resource = "service" }
      , T.Actor::{ cluster, resource = "ingress" }
        -- RBAC: who is granted what, and where.
      , T.Actor::{ cluster, resource = "role" }
      , T.Actor::{ cluster, resource = "rolebinding" }
        -- Cluster-scoped resources: they have no namespace, so keep the default "*".
      , T.Actor::{ cluster, resource = "node" }
      , T.Actor::{ cluster, resource = "namespace" }
      , T.Actor::{ cluster, resource = "persistentvolume" }
      , T.Actor::{ cluster, resource = "storageclass" }
      , T.Actor::{ cluster, resource = "clusterrole" }
      , T.Actor::{ cluster, resource = "clusterrolebinding" }
      ]
      -- Shorter, same result: T.everyNamespaceOf cluster [ "pod", "configmap", ... ]

      -- Everything below is the default and could be left out; it is here to be
      -- changed.

      -- The graph: the embedded SQLite file, or Neo4j:
      --   T.Sink::{
      --   , kind = "neo4j"
      --   , neo4j = Some T.Neo4j::{
      --     , uri = "bolt://localhost:7687"
      --     , username = "neo4j"
      --     , passwordEnv = "NEO4J_PASSWORD"  -- the variable's name, not the password
      --     }
      --   }
    , sink = T.Sink::{ kind = "sqlite", sqlitePath = "./kube-observer-graph.sqlite" }
      -- Messages wait here, on disk, until the sink has committed them.
    , wal = T.Wal::{ path = "./kube-observer-wal.sqlite", maxBytes = 1073741824 }
      -- Directories of third-party resource plugins, loaded beside the built-in ones.
    , pluginDirs = [] : List Text
      -- List page size, watch timeouts, retry backoff, worker threads, batching.
    , observer = T.Observer::{
      , pageSize = 500
        -- A server's Retry-After is honoured up to maxRetryAfterMs (5 min).
      , backoff = T.Backoff::{ initialMs = 800, maxMs = 30000, maxRetryAfterMs = 300000 }
      , threads = 0 -- 0: from the number of cores
      }
      -- "trace", "debug", "info", "warn", "error" or "fatal".
    , log = T.Log::{ level = "info" }
      -- The registries images may come from (audit rule KO-IMG-002; empty: the rule is off).
    , audit = T.Audit::{ allowedRegistries = [] : List Text }
      -- The graph through time (docs/history.md). Off by default; with enabled = True
      -- every version of every node and edge is kept (in the graph's file, or beside the
      -- WAL with Neo4j), pruned after retentionDays or past maxBytes.
    , history = T.History::{ enabled = False, retentionDays = 90, maxBytes = 2147483648 }
    }
