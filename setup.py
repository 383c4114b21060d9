from glob import glob

from setuptools import find_packages, setup

package_name = 'sensor_fusion'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + package_name + '/config/architectures', glob('config/architectures/*.yaml')),
        ('share/' + package_name + '/models', glob('models/*')),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/worlds', glob('worlds/*.sdf')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='sensor_fusion maintainers',
    maintainer_email='maintainers@sensor-fusion.invalid',
    description='Multisensory fusion policies (NVSF-C, NVSF-A, NVSF-H) for ROS 2 robots.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sensor-fusion = sensor_fusion.cli:main',
            'fusion_node = sensor_fusion.ros.fusion_node:main',
            'synthetic_sensors_node = sensor_fusion.ros.synthetic_sensors_node:main',
            'event_emulator_node = sensor_fusion.ros.event_emulator_node:main',
            'contact_audio_node = sensor_fusion.ros.contact_audio_node:main',
            'sim_node = sensor_fusion.ros.sim_node:main',
            'joint_command_splitter_node = sensor_fusion.ros.joint_command_splitter_node:main',
        ],
    },
)
