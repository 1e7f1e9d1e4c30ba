export { Replica, replicaName, REPLICA_STATES, type ReplicaState } from './replica.ts';
export { ReplicaMonitor, type ReplicaMonitorOptions } from './monitor.ts';
export { ReplicaSet, type Picked, type ReplicaSetOptions } from './set.ts';
