package corral.compat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;

/** (c) InterProcessSemaphoreV2 with 2 leases, 6 contenders (own sessions): never more than 2 holders. */
public final class SemaphoreCheck {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        int contenders = 6, leases = 2, iters = Integer.getInteger("iters", 15);
        CuratorFramework admin = Check.client(connect);
        String base = Check.basePath("semaphore");
        AtomicInteger holders = new AtomicInteger(), max = new AtomicInteger(), errors = new AtomicInteger();
        AtomicInteger grants = new AtomicInteger();
        List<CuratorFramework> clients = new ArrayList<>();
        List<Thread> ts = new ArrayList<>();
        for (int i = 0; i < contenders; i++) {
            CuratorFramework c = Check.client(connect);
            clients.add(c);
            Thread t = new Thread(() -> {
                InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(c, base, leases);
                for (int k = 0; k < iters; k++) {
                    try {
                        Lease lease = sem.acquire(60, TimeUnit.SECONDS);
                        if (lease == null) { errors.incrementAndGet(); continue; }
                        int now = holders.incrementAndGet();
                        max.accumulateAndGet(now, Math::max);
                        grants.incrementAndGet();
                        Thread.sleep(5);
                        holders.decrementAndGet();
                        sem.returnLease(lease);
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        System.err.println("semaphore: " + e);
                    }
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) t.join();
        Check.check("semaphore.bound", max.get() <= leases && errors.get() == 0,
                "max concurrent holders " + max.get() + " (limit " + leases + "), " + grants.get()
                        + " grants, " + errors.get() + " errors");
        Check.check("semaphore.concurrency", max.get() == leases,
                "both leases were held at the same time at least once");
        for (CuratorFramework c : clients) c.close();
        Check.finish(admin, base);
    }
}
