package corral.compat;

import java.util.ArrayList;
import java.util.List;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.leader.LeaderLatch;

/** (b) LeaderLatch, 3 participants with their own sessions: one leader; leadership moves on close. */
public final class LeaderLatchCheck {
    public static void main(String[] args) throws Exception {
        String connect = args[0];
        CuratorFramework admin = Check.client(connect);
        String base = Check.basePath("latch");
        List<CuratorFramework> clients = new ArrayList<>();
        List<LeaderLatch> latches = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CuratorFramework c = Check.client(connect);
            clients.add(c);
            LeaderLatch l = new LeaderLatch(c, base, "p" + i);
            latches.add(l);
            l.start();
        }
        List<String> order = new ArrayList<>();
        while (!latches.isEmpty()) {
            boolean one = Check.waitFor(20_000, () -> leaders(latches) == 1);
            Thread.sleep(300); // leadership must be stable, not just momentarily single
            int n = leaders(latches);
            LeaderLatch leader = latches.stream().filter(LeaderLatch::hasLeadership).findFirst().orElse(null);
            boolean agree = leader != null && agreeOn(latches, leader.getId());
            Check.check("latch.one-leader(" + latches.size() + " participants)", one && n == 1 && agree,
                    "leaders=" + n + (leader == null ? "" : " leader=" + leader.getId())
                            + (agree ? " (all agree)" : " (participants disagree on getLeader)"));
            if (leader == null) break;
            order.add(leader.getId());
            leader.close(); // leadership must move to one of the others
            latches.remove(leader);
        }
        Check.info("leadership order: " + order);
        Check.check("latch.moves", order.size() == 3 && order.stream().distinct().count() == 3,
                "every participant led once after the previous leader closed");
        for (CuratorFramework c : clients) c.close();
        Check.finish(admin, base);
    }

    static int leaders(List<LeaderLatch> ls) {
        return (int) ls.stream().filter(LeaderLatch::hasLeadership).count();
    }

    static boolean agreeOn(List<LeaderLatch> ls, String id) {
        try {
            for (LeaderLatch l : ls) if (!l.getLeader().getId().equals(id)) return false;
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
