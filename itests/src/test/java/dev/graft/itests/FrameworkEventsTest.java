package dev.graft.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.event.Event;
import org.osgi.service.event.EventAdmin;
import org.osgi.service.event.EventConstants;
import org.osgi.service.event.EventHandler;
import org.osgi.test.common.annotation.InjectService;

/**
 * Event Admin leaves the framework's own bundle, service and framework events out
 * (org.apache.felix.eventadmin.IgnoreTopic, set alike in cnf/graft.bndrun and cnf/itest.bndrun): no
 * Graft bundle listens to them, and their backlog was still being delivered when a Ctrl-D in the
 * shell stopped the framework, which printed "EventAdmin: Event Task Processing Interrupted".
 * Graft's own events (dev/graft/...) are still delivered.
 */
class FrameworkEventsTest {
  @InjectService EventAdmin events;

  @Test
  void frameworkEventsAreNotPostedButGraftEventsAre() throws Exception {
    BundleContext context = FrameworkUtil.getBundle(getClass()).getBundleContext();
    List<String> topics = new CopyOnWriteArrayList<>();
    Hashtable<String, Object> properties = new Hashtable<>();
    properties.put(
        EventConstants.EVENT_TOPIC, new String[] {"org/osgi/framework/*", "dev/graft/test/*"});
    ServiceRegistration<EventHandler> handler =
        context.registerService(EventHandler.class, e -> topics.add(e.getTopic()), properties);
    try {
      // A service event, posted from this thread before the test event, so delivered before it.
      context.registerService(Runnable.class, () -> {}, null).unregister();
      events.postEvent(new Event("dev/graft/test/done", Map.of()));
      long deadline = System.currentTimeMillis() + 10_000;
      while (!topics.contains("dev/graft/test/done") && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }
      assertEquals(List.of("dev/graft/test/done"), topics);
    } finally {
      handler.unregister();
    }
  }
}
