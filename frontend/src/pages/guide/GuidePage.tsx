import { Anchor, Card, Container, List, Stack, Table, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router";

/** One step of the guide: what it does, and why. */
function Step({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <Card padding="lg" id={id} data-testid="guide-section" data-section={id}>
      <Stack gap="sm">
        <Title order={2} size="h3">
          {title}
        </Title>
        {children}
      </Stack>
    </Card>
  );
}

const SECTIONS: Array<{ id: string; title: string }> = [
  { id: "problem", title: "1. Define the problem and the target" },
  { id: "collect", title: "2. Collect and label photos" },
  { id: "splits", title: "3. Train, validation and test splits" },
  { id: "train", title: "4. Train: fast, accurate or fine-tune" },
  { id: "metrics", title: "5. Read the scores" },
  { id: "deploy", title: "6. Deploy" },
  { id: "watch", title: "7. Watch it in production" },
  { id: "improve", title: "8. Improve and train again" },
];

/** The in-app guide: each step of a project in plain words, for someone new to machine learning. */
export default function GuidePage() {
  const title = (id: string) => SECTIONS.find((s) => s.id === id)?.title ?? id;
  return (
    <Container size="md" py="xl" data-testid="guide">
      <Stack gap="lg">
        <div>
          <Title order={1}>Guide: from photos to a working model</Title>
          <Text c="dimmed" mt={4}>
            Bakehouse teaches a computer to sort photos into groups you choose (for example “ant” or “bee”) by showing it
            examples. No programming or statistics needed. Here is what each step does and why it matters.
          </Text>
        </div>
        <Card padding="md">
          <Text fw={600} mb={4}>
            On this page
          </Text>
          <List size="sm" spacing={2}>
            {SECTIONS.map((s) => (
              <List.Item key={s.id}>
                <Anchor href={`#${s.id}`}>{s.title}</Anchor>
              </List.Item>
            ))}
          </List>
        </Card>

        <Step id="problem" title={title("problem")}>
          <Text>
            Start by writing, in one sentence, what the model should answer: “Is the insect in the photo an ant or a
            bee?”. The possible answers are the <b>labels</b>. Every photo must fit exactly one of them, so if some
            photos show neither, add a label such as “other”.
          </Text>
          <Text>
            Then set a <b>target</b>: how often the model must be right to be useful to you (for example 90 %). It is
            the bar every trained model is measured against, so you know when to stop improving and start using it.
          </Text>
        </Step>

        <Step id="collect" title={title("collect")}>
          <Text>
            The model learns only from the examples you give it. Upload photos that look like the ones it will see
            later: same kind of camera, light, distance and background. Aim for at least a few dozen per label, and
            about as many for each label: a model shown 500 ants and 20 bees learns to say “ant”.
          </Text>
          <Text>
            <b>Labelling</b> means telling Bakehouse what each photo shows. Click a photo and press a number key (1 for
            the first label, 2 for the second…), or select many and label them at once. A wrong label teaches the
            wrong thing, so when in doubt, leave a photo out. Bulk changes can be undone from the message that appears.
          </Text>
        </Step>

        <Step id="splits" title={title("splits")}>
          <Text>Bakehouse puts every photo in one of three groups:</Text>
          <Table withTableBorder fz="sm">
            <Table.Tbody>
              <Table.Tr>
                <Table.Th w={120}>Train</Table.Th>
                <Table.Td>The examples the model learns from (most of the photos).</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Validation</Table.Th>
                <Table.Td>Used while training to choose between settings and to decide when to stop.</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th>Test</Table.Th>
                <Table.Td>Never seen during training: the honest exam that gives the scores.</Table.Td>
              </Table.Tr>
            </Table.Tbody>
          </Table>
          <Text>
            The test photos stay put from one training to the next. If they changed, or if the model had studied them,
            the scores would look better than the model really is, and two versions could not be compared fairly.
          </Text>
        </Step>

        <Step id="train" title={title("train")}>
          <Text>
            Training starts from a model that already knows how to see shapes and textures, and teaches it your labels.
          </Text>
          <List size="sm" spacing={4}>
            <List.Item>
              <b>Fast</b> teaches only the last step of the model. It takes seconds once the photos are analysed, on an
              ordinary computer, and is often good enough. Start here.
            </List.Item>
            <List.Item>
              <b>Accurate</b> does the same on a larger pretrained model. The first run analyses every photo again, and
              each photo costs more to train on and to predict, for a few more right answers.
            </List.Item>
            <List.Item>
              <b>Fine-tune</b> also adjusts the inner layers to your photos. It takes minutes to hours (much faster with a
              graphics card) and helps most when your photos are unusual (microscope slides, X-rays, factory parts). When
              it does not beat the model it started from on the validation photos, Bakehouse keeps that one and says so.
            </List.Item>
          </List>
        </Step>

        <Step id="metrics" title={title("metrics")}>
          <List size="sm" spacing={6}>
            <List.Item>
              <b>Accuracy</b> is the share of test photos the model got right. It comes with a <b>95 % interval</b> and the{" "}
              <b>number of test images</b>: with 40 test photos, one photo moves accuracy by 2.5 points, so “88 %” could
              really be anywhere from about 75 % to 95 %. The fewer test photos, the wider the interval; Bakehouse says
              when there are too few to tell whether the target is met.
            </List.Item>
            <List.Item>
              <b>F1</b> balances two ways of being wrong for each label: missing photos that belong to it, and claiming
              photos that do not. The macro F1 averages it over labels, so a label with few photos counts as much as a big
              one. Much lower than accuracy means one label is handled badly.
            </List.Item>
            <List.Item>
              The <b>confusion matrix</b> shows which labels get mixed up: rows are the true label, columns what the
              model said. Everything off the diagonal is a mistake; click a cell to see those photos.
            </List.Item>
            <List.Item>
              <b>Calibration</b> checks the model's confidence: of the answers given “with 80 % confidence”, about 80 %
              should be right. A well-calibrated model lets you trust its confidence to flag uncertain answers.
            </List.Item>
            <List.Item>
              In the <b>mistakes</b> gallery, look at each photo. Usually the model is wrong; sometimes the label in the
              data is. Change a label only when the photo clearly shows it is wrong (and you can undo it).
            </List.Item>
          </List>
        </Step>

        <Step id="deploy" title={title("deploy")}>
          <Text>
            Deploying gives a model version a web address. Other programs send a photo there and get the label back with
            a confidence. Access needs an <b>API key</b>: create one on the Deploy page, copy it once (it is not shown
            again) and keep it secret. The ready-made snippets (curl, Python, JavaScript) already hold the address and
            your key. You can switch the deployment to another version at any time, and back, without changing the
            programs that call it.
          </Text>
        </Step>

        <Step id="watch" title={title("watch")}>
          <Text>
            Every answer is written to the <b>prediction log</b>: when, which version, which label, how sure. Answers
            below the <b>uncertainty threshold</b> are marked uncertain and listed first: they are the photos the model
            finds hard, and often the ones it was never shown examples like. Raising the threshold flags more answers,
            the ones already logged included.
          </Text>
        </Step>

        <Step id="improve" title={title("improve")}>
          <Text>A model is never finished; it gets better in small loops:</Text>
          <List type="ordered" size="sm" spacing={4}>
            <List.Item>Look at the uncertain predictions and the test mistakes.</List.Item>
            <List.Item>
              Add those photos to the data set with the right label (“Add to data set” in the log), and collect more of
              the kind the model gets wrong.
            </List.Item>
            <List.Item>Train again, and compare the new version's scores with the deployed one on the Model page.</List.Item>
            <List.Item>Deploy the new version when it is clearly better; switch back if it is not.</List.Item>
          </List>
          <Text size="sm" c="dimmed">
            Ready? Go to your{" "}
            <Anchor component={Link} to="/">
              projects
            </Anchor>
            .
          </Text>
        </Step>
      </Stack>
    </Container>
  );
}
