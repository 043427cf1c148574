package corral.compat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.retry.RetryNTimes;

/** (d) DistributedAtomicLong: THREADS threads on 3 sessions x INCS increments; final value exact. */
public final class AtomicLongCheck {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        int threads = Integer.getInteger("threads", 12), incs = Integer.getInteger("incs", 50);
        CuratorFramework admin = Check.client(connect);
        String base = Check.basePath("atomic");
        String path = base + "/counter";
        List<CuratorFramework> clients = new ArrayList<>();
        for (int i = 0; i < 3; i++) clients.add(Check.client(connect));
        AtomicInteger errors = new AtomicInteger(), attempts = new AtomicInteger();
        List<Thread> ts = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < threads; i++) {
            CuratorFramework c = clients.get(i % clients.size());
            Thread t = new Thread(() -> {
                DistributedAtomicLong counter = new DistributedAtomicLong(c, path, new RetryNTimes(10, 1));
                for (int k = 0; k < incs; k++) {
                    try {
                        AtomicValue<Long> v;
                        do {
                            v = counter.increment();
                            attempts.addAndGet(1 + v.getStats().getOptimisticTries());
                        } while (!v.succeeded());
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        System.err.println("atomic: " + e);
                    }
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) t.join();
        double secs = (System.nanoTime() - t0) / 1e9;
        long value = new DistributedAtomicLong(admin, path, new RetryNTimes(3, 10)).get().postValue();
        long expected = (long) threads * incs;
        Check.check("atomiclong.exact", value == expected && errors.get() == 0,
                "final " + value + " / expected " + expected + ", " + errors.get() + " errors");
        Check.info(String.format("atomiclong: %d increments in %.2fs (%d optimistic tries)",
                expected, secs, attempts.get()));
        for (CuratorFramework c : clients) c.close();
        Check.finish(admin, base);
    }
}
