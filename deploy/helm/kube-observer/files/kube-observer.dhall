{- kube-observer as deployed by `kubectl apply -k deploy/`: inside the cluster it
   observes, with its pod's ServiceAccount, streaming into Neo4j.

   deploy/kustomization.yaml turns this file into the ConfigMap `kube-observer-config`,
   mounted at /etc/kube-observer/ (as a directory: editing the ConfigMap reaches the
   running agent, which reloads it). It is also the Helm chart's default config
   (deploy/helm/kube-observer/files/), and the RBAC of both is generated from it:

       scripts/deploy/generate-manifests.sh

   after any change to the actors below (or to rbac). It observes what
   config/example.dhall observes (test/unit/deploy checks that both stay the same).
-}

-- The schema: the repository's when evaluated here (kube-observer rbac, doctor),
-- the image's copy inside the pod (the ConfigMap holds only this file).
let T = ../../config/types.dhall ? /app/config/types.dhall

let cluster = "in-cluster"

in  T.Config::{
    , clusters = [ T.Cluster::{ name = cluster, inCluster = True } ]
    , actors =
        T.everyNamespaceOf
          cluster
          [ "pod"
          , "configmap"
          , "secret"
          , "serviceaccount"
          , "persistentvolumeclaim"
          , "deployment"
          , "replicaset"
          , "statefulset"
          , "daemonset"
          , "job"
          , "cronjob"
          , "service"
          , "ingress"
          , "role"
          , "rolebinding"
          , "node"
          , "namespace"
          , "persistentvolume"
          , "storageclass"
          , "clusterrole"
          , "clusterrolebinding"
          ]
      -- Neo4j: the URI, user name and password come from the environment, which the
      -- Deployment fills from the Secret `kube-observer-neo4j` (keys NEO4J_URI,
      -- NEO4J_USERNAME, NEO4J_PASSWORD; see README "Deploy to a cluster"). The uri
      -- here applies when the Secret has no NEO4J_URI.
    , sink = T.Sink::{
      , kind = "neo4j"
      , sqlitePath = "/var/lib/kube-observer/graph/graph.sqlite"
      , neo4j = Some T.Neo4j::{
        , uri = "bolt://neo4j.neo4j.svc:7687"
        , username = "neo4j"
        , passwordEnv = "NEO4J_PASSWORD"
        }
      }
      -- On the pod's emptyDir: the root filesystem is read-only.
    , wal = T.Wal::{ path = "/var/lib/kube-observer/wal/wal.sqlite", maxBytes = 1073741824 }
    , rbac = T.Rbac::{ serviceAccount = "kube-observer", namespace = "kube-observer" }
    }
