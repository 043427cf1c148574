package corral.cluster;

import java.io.File;
import java.io.FileWriter;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;
import org.apache.curator.retry.ExponentialBackoffRetry;

/**
 * One JVM of the cluster mutex workload (compat/cluster). THREADS threads share one Curator
 * client (3-node connect string) and loop until STOPFILE exists or DEADLINE_MS passes:
 *
 *   acquire InterProcessMutex(LOCK)
 *     OS file lock (non-blocking) on FILE          -> "overlap" if someone else holds it
 *     create ephemeral HOLDER with our token       -> "overlap" if it exists with another token
 *     read COUNTER (value, version); setData(value+1, version)
 *                                                  -> "conflict" on BadVersion not caused by our
 *                                                     own retried write
 *     delete HOLDER
 *   release
 *
 * Writes one line of results to OUT:
 *   acquisitions=N increments=N uncertain=N conflicts=N overlaps=N errors=N lost=N
 * "uncertain" are increments whose outcome is unknown (connection loss and the retry could not
 * tell); the checker accepts a counter in [increments, increments + uncertain].
 * "lost" counts LOST connection states (session expired) seen by the client.
 *
 *   MutexWorker CONNECT LOCK COUNTER HOLDER FILE THREADS STOPFILE DEADLINE_MS OUT NAME
 */
public final class MutexWorker {
    static final AtomicLong acquisitions = new AtomicLong(), increments = new AtomicLong(),
            uncertain = new AtomicLong(), conflicts = new AtomicLong(), overlaps = new AtomicLong(),
            errors = new AtomicLong(), lost = new AtomicLong(), staleHolders = new AtomicLong();

    public static void main(String[] a) throws Exception {
        String connect = a[0], lock = a[1], counter = a[2], holder = a[3], file = a[4];
        int threads = Integer.parseInt(a[5]);
        File stop = new File(a[6]);
        long deadline = System.currentTimeMillis() + Long.parseLong(a[7]);
        String out = a[8], name = a[9];

        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10_000)
                .connectionTimeoutMs(5_000)
                .retryPolicy(new ExponentialBackoffRetry(100, 8, 1_000))
                // The connect string is the test's own: Curator would otherwise
                // replace it with the client addresses in /zookeeper/config,
                // which (in the Docker test) are container names the host
                // cannot resolve, as with a ZooKeeper ensemble in Docker.
                .ensembleTracker(false)
                .build();
        c.getConnectionStateListenable().addListener((cl, st) -> {
            if (st == ConnectionState.LOST) lost.incrementAndGet();
            System.err.println(name + " connection state " + st);
        });
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            System.err.println(name + ": could not connect");
            System.exit(2);
        }
        try (RandomAccessFile raf = new RandomAccessFile(file, "rw")) {
            FileChannel ch = raf.getChannel();
            List<Thread> ts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                final String token = name + "-t" + t;
                Thread th = new Thread(() -> loop(c, lock, counter, holder, ch, token, stop, deadline));
                ts.add(th);
                th.start();
            }
            for (Thread th : ts) th.join();
        }
        c.close();
        try (FileWriter w = new FileWriter(out)) {
            w.write(String.format("acquisitions=%d increments=%d uncertain=%d conflicts=%d overlaps=%d errors=%d lost=%d stale_holders=%d%n",
                    acquisitions.get(), increments.get(), uncertain.get(), conflicts.get(),
                    overlaps.get(), errors.get(), lost.get(), staleHolders.get()));
        }
        System.exit(0);
    }

    static boolean done(File stop, long deadline) {
        return stop.exists() || System.currentTimeMillis() > deadline;
    }

    static void loop(CuratorFramework c, String lock, String counter, String holder,
                     FileChannel ch, String token, File stop, long deadline) {
        InterProcessMutex m = new InterProcessMutex(c, lock);
        byte[] me = token.getBytes(StandardCharsets.UTF_8);
        while (!done(stop, deadline)) {
            boolean held = false;
            try {
                held = m.acquire(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                errors.incrementAndGet();
                System.err.println(token + " acquire: " + e);
                sleep(100);
                continue;
            }
            if (!held) continue;
            acquisitions.incrementAndGet();
            try {
                FileLock fl = null;
                try { fl = ch.tryLock(); } catch (OverlappingFileLockException e) { fl = null; }
                if (fl == null) {
                    overlaps.incrementAndGet();
                    System.err.println(token + " OVERLAP: file lock held by another holder");
                    continue;
                }
                try {
                    critical(c, counter, holder, me, token);
                } finally {
                    fl.release();
                }
            } catch (Exception e) {
                errors.incrementAndGet();
                System.err.println(token + " in lock: " + e);
            } finally {
                try { m.release(); } catch (Exception e) {
                    errors.incrementAndGet();
                    System.err.println(token + " release: " + e);
                }
            }
        }
    }

    static void critical(CuratorFramework c, String counter, String holder, byte[] me, String token)
            throws Exception {
        // shared "holder" ephemeral: nobody else may be inside
        try {
            c.create().withMode(CreateMode.EPHEMERAL).forPath(holder, me);
        } catch (KeeperException.NodeExistsException e) {
            if (!holderIsUs(c, holder, me, token)) return;
        }
        try {
            Stat st = new Stat();
            long v = Long.parseLong(new String(c.getData().storingStatIn(st).forPath(counter), StandardCharsets.UTF_8));
            byte[] next = Long.toString(v + 1).getBytes(StandardCharsets.UTF_8);
            try {
                c.setData().withVersion(st.getVersion()).forPath(counter, next);
                increments.incrementAndGet();
            } catch (KeeperException.BadVersionException e) {
                // Curator retries a setData after a connection loss; if the first attempt was
                // applied the retry sees BadVersion. Only we write inside the lock, so the node
                // then holds exactly our value at version+1.
                Stat now = new Stat();
                byte[] cur;
                try {
                    cur = c.getData().storingStatIn(now).forPath(counter);
                } catch (Exception e2) {
                    uncertain.incrementAndGet();
                    throw e2;
                }
                if (java.util.Arrays.equals(cur, next) && now.getVersion() == st.getVersion() + 1) {
                    increments.incrementAndGet();
                } else {
                    conflicts.incrementAndGet();
                    System.err.println(token + " CONFLICT: expected version " + st.getVersion()
                            + " value " + v + ", found version " + now.getVersion());
                }
            } catch (Exception e) {
                uncertain.incrementAndGet();
                throw e;
            }
        } finally {
            try {
                c.delete().guaranteed().forPath(holder);
            } catch (KeeperException.NoNodeException e) {
                // already gone
            }
        }
    }

    /** The holder node exists. Ours (a retried create)? Else wait up to 3 s for the previous
     *  holder's (guaranteed, possibly background) delete; still there: an overlap. */
    static boolean holderIsUs(CuratorFramework c, String holder, byte[] me, String token) throws Exception {
        long until = System.currentTimeMillis() + 3_000;
        while (true) {
            byte[] who;
            try {
                who = c.getData().forPath(holder);
            } catch (KeeperException.NoNodeException gone) {
                try {
                    c.create().withMode(CreateMode.EPHEMERAL).forPath(holder, me);
                    staleHolders.incrementAndGet();
                    return true;
                } catch (KeeperException.NodeExistsException again) {
                    continue;
                }
            }
            if (java.util.Arrays.equals(who, me)) return true;
            if (System.currentTimeMillis() > until) {
                overlaps.incrementAndGet();
                System.err.println(token + " OVERLAP: holder is " + new String(who, StandardCharsets.UTF_8));
                return false;
            }
            sleep(50);
        }
    }

    static void sleep(long ms) {
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }
}
